// Starts host tools without copying the daemon: Node's child_process forks the whole ~50 MiB
// process (page tables and all) and blocks its event loop until the child has exec'd, 4-9 ms per
// spawn on a busy machine. glibc's posix_spawn runs the child on the parent's memory (CLONE_VM |
// CLONE_VFORK), so its cost does not grow with the daemon, and it is called on a thread of libuv's
// pool, so the wait for the exec holds that thread, not the event loop. Exits are watched through
// a pidfd polled on the event loop: no SIGCHLD handler, no waitpid(-1) that could reap another
// part's child.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Parent fds are first duplicated to this height, so a dup2 into a child slot never meets an fd
   that is itself a source (and never has source == target, which would leave FD_CLOEXEC set). */
#define HIGH_FD 1024

/*
 * sigfillset leaves out glibc's own signals (32 and 33), and posix_spawn sets those to SIG_IGN in
 * the child when the parent handles them, which exec keeps: the tool would start with them
 * ignored (Node's spawn leaves every signal at its default). Asked for by hand, they get SIG_DFL.
 */
static void add_internal_signals(sigset_t *set) {
  unsigned long *words = (unsigned long *)set;
  const size_t bits = 8 * sizeof(unsigned long);
  for (int sig = 32; sig < SIGRTMIN; sig++) words[(sig - 1) / bits] |= 1UL << ((sig - 1) % bits);
}

static const char *errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case ENOEXEC: return "ENOEXEC";
    case EMFILE: return "EMFILE";
    case ENOTDIR: return "ENOTDIR";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    default: return "ESPAWN";
  }
}

static napi_value errno_error(napi_env env, int err, const char *what);

static napi_value throw_errno(napi_env env, int err, const char *what) {
  napi_throw(env, errno_error(env, err, what));
  return NULL;
}

static char *string_of(napi_env env, napi_value value) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s == NULL) return NULL;
  napi_get_value_string_utf8(env, value, s, len + 1, &len);
  return s;
}

/* A NULL-terminated array of the strings of a JS array; NULL on a wrong type. */
static char **strings_of(napi_env env, napi_value array) {
  uint32_t n = 0;
  if (napi_get_array_length(env, array, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof(char *));
  if (out == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    out[i] = string_of(env, item);
    if (out[i] == NULL) {
      for (uint32_t j = 0; j < i; j++) free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static void free_strings(char **strings) {
  if (strings == NULL) return;
  for (char **s = strings; *s != NULL; s++) free(*s);
  free(strings);
}

typedef struct {
  napi_async_work work;
  napi_ref callback;
  char *file;
  char **argv;
  char **envp;
  char *cwd;
  uint32_t nfds;
  int high[256];
  int err;
  const char *what;
  pid_t pid;
  int pidfd;
} spawn_request;

static void free_request(spawn_request *r) {
  for (uint32_t i = 0; i < r->nfds; i++) if (r->high[i] >= 0) close(r->high[i]);
  free(r->file), free_strings(r->argv), free_strings(r->envp), free(r->cwd);
  free(r);
}

/* On a thread of libuv's pool: vfork semantics suspend that thread until the child has exec'd, never the event loop. */
static void spawn_execute(napi_env env, void *data) {
  (void)env;
  spawn_request *r = data;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  for (uint32_t i = 0; i < r->nfds; i++) {
    if (r->high[i] < 0) posix_spawn_file_actions_addopen(&actions, (int)i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    else posix_spawn_file_actions_adddup2(&actions, r->high[i], (int)i);
  }
  if (r->cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, r->cwd);
  /* Whatever the daemon has open beyond the slots stays out, close-on-exec or not (usocket's are not). */
  posix_spawn_file_actions_addclosefrom_np(&actions, (int)r->nfds);
  sigset_t all, none;
  sigfillset(&all);
  add_internal_signals(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  r->err = posix_spawn(&r->pid, r->file, &actions, &attr, r->argv, r->envp);
  r->what = "spawn";
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (r->err != 0) return;
  r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
  if (r->pidfd < 0) {
    /* Cannot happen for our own unreaped child short of EMFILE; do not leave it unwatched. */
    r->err = errno;
    r->what = "pidfd_open";
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    return;
  }
  fcntl(r->pidfd, F_SETFD, FD_CLOEXEC);
}

static napi_value errno_error(napi_env env, int err, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value code, msg, error, errnoValue;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_set_named_property(env, error, "code", code);
  return error;
}

static void spawn_complete(napi_env env, napi_status status, void *data) {
  spawn_request *r = data;
  napi_value argv[3], callback, global, ignored;
  if (status != napi_ok && r->err == 0) r->err = ECANCELED, r->what = "spawn";
  if (r->err != 0) {
    argv[0] = errno_error(env, r->err, r->what);
    napi_get_null(env, &argv[1]);
    napi_get_null(env, &argv[2]);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, r->pid, &argv[1]);
    napi_create_int32(env, r->pidfd, &argv[2]);
  }
  napi_get_reference_value(env, r->callback, &callback);
  napi_get_global(env, &global);
  napi_call_function(env, global, callback, 3, argv, &ignored);
  napi_delete_reference(env, r->callback);
  napi_delete_async_work(env, r->work);
  free_request(r);
}

/*
 * spawn(file, argv, env, cwd | null, fds, callback(err, pid, pidfd)). fds[i] is the parent fd that
 * becomes the child's fd i (-1: /dev/null); every other fd of the parent is closed in the child.
 * Signals are reset to their defaults and unblocked in the child, as Node does. The slot fds are
 * duplicated before this returns, so the caller may close its own at once. The callback gets an
 * Error with code ENOENT/EACCES/... when the program cannot be run at all; throws (EBADF) when a
 * slot fd is not open.
 */
static napi_value spawn(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  napi_valuetype callbackType = napi_undefined;
  if (argc == 6) napi_typeof(env, args[5], &callbackType);
  if (callbackType != napi_function) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, env, cwd, fds, callback)");
    return NULL;
  }
  spawn_request *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, ENOMEM, "spawn");
  r->file = string_of(env, args[0]);
  r->argv = strings_of(env, args[1]);
  r->envp = strings_of(env, args[2]);
  napi_valuetype cwdType;
  napi_typeof(env, args[3], &cwdType);
  r->cwd = cwdType == napi_string ? string_of(env, args[3]) : NULL;
  uint32_t nfds = 0;
  napi_get_array_length(env, args[4], &nfds);
  if (r->file == NULL || r->argv == NULL || r->envp == NULL || nfds > 256) {
    free_request(r);
    napi_throw_type_error(env, NULL, "spawn: file must be a string, argv and env arrays of strings, fds at most 256");
    return NULL;
  }
  for (; r->nfds < nfds; r->nfds++) {
    napi_value item;
    int32_t fd = -1;
    napi_get_element(env, args[4], r->nfds, &item);
    napi_get_value_int32(env, item, &fd);
    r->high[r->nfds] = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
    if (fd >= 0 && r->high[r->nfds] < 0) {
      int err = errno;
      free_request(r);
      return throw_errno(env, err, "spawn");
    }
    /* As libuv does for a child's stdin/stdout/stderr handed over as fds: blocking I/O, which (the
       flag is the open file description's) holds for us too; src/drivers/sockets/blocking-fd.ts relies on it. */
    int flags = r->nfds <= 2 && fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    if (flags >= 0 && (flags & O_NONBLOCK) != 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  napi_value name;
  napi_create_string_utf8(env, "dobby:spawn", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, args[5], 1, &r->callback);
  if (napi_create_async_work(env, NULL, name, spawn_execute, spawn_complete, r, &r->work) != napi_ok || napi_queue_async_work(env, r->work) != napi_ok) {
    napi_delete_reference(env, r->callback);
    free_request(r);
    return throw_errno(env, EAGAIN, "spawn");
  }
  return NULL;
}

/* pipe() → [readFd, writeFd], both close-on-exec. */
static napi_value make_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2");
  napi_value result, v;
  napi_create_array_with_length(env, 2, &result);
  for (int i = 0; i < 2; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, result, (uint32_t)i, v);
  }
  return result;
}

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int pidfd;
} exit_watch;

static void on_closed(uv_handle_t *handle) {
  free(handle->data);
}

static void on_pidfd(uv_poll_t *poll, int status, int events) {
  (void)events;
  exit_watch *w = poll->data;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r;
  do r = waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG); while (r < 0 && errno == EINTR);
  if (status == 0 && r == 0 && si.si_pid == 0) return; /* woken early: not exited yet */
  napi_env env = w->env;
  uv_poll_stop(poll);
  close(w->pidfd);
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2], callback, global, ignored;
  if (r < 0) {
    napi_create_int32(env, -1, &argv[0]);
    napi_get_null(env, &argv[1]);
  } else if (si.si_code == CLD_EXITED) {
    napi_create_int32(env, si.si_status, &argv[0]);
    napi_get_null(env, &argv[1]);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, si.si_status, &argv[1]);
  }
  napi_get_reference_value(env, w->callback, &callback);
  napi_get_global(env, &global);
  if (napi_make_callback(env, w->context, global, callback, 2, argv, &ignored) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->context);
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)poll, on_closed);
}

/*
 * watch(pidfd, callback): calls callback(code, signalNumber) once the child exits (code null when
 * a signal ended it; -1 and null if it could not be collected), reaps it and closes the pidfd.
 * Holds the event loop open meanwhile, as a child_process does.
 */
static napi_value watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  int32_t pidfd = -1;
  if (argc < 2 || napi_get_value_int32(env, args[0], &pidfd) != napi_ok || pidfd < 0) {
    napi_throw_type_error(env, NULL, "watch(pidfd, callback)");
    return NULL;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  exit_watch *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_errno(env, ENOMEM, "watch");
  w->env = env;
  w->pidfd = pidfd;
  napi_create_reference(env, args[1], 1, &w->callback);
  napi_value name;
  napi_create_string_utf8(env, "dobby:spawn", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->context);
  int r = uv_poll_init(loop, &w->poll, pidfd);
  w->poll.data = w;
  if (r == 0) r = uv_poll_start(&w->poll, UV_READABLE, on_pidfd);
  if (r == 0) return NULL;
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->context);
  /* uv_poll_init sets the loop only once the handle is made. */
  if (w->poll.loop != NULL) uv_close((uv_handle_t *)&w->poll, on_closed);
  else free(w);
  return throw_errno(env, -r, "watch");
}

/*
 * pidfdSupported() → true when this kernel has what watch() needs: pidfd_open (5.3) and
 * waitid(P_PIDFD) (5.4). Asked about our own pid, a 5.4 kernel answers ECHILD (we are not our own
 * child) and an older one EINVAL (no such idtype): nothing is waited for, nothing is started.
 */
static napi_value pidfd_supported(napi_env env, napi_callback_info info) {
  (void)info;
  bool ok = false;
  int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (fd >= 0) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    ok = waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD;
    close(fd);
  }
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "pidfdSupported", NAPI_AUTO_LENGTH, pidfd_supported, NULL, &fn);
  napi_set_named_property(env, exports, "pidfdSupported", fn);
  napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, spawn, NULL, &fn);
  napi_set_named_property(env, exports, "spawn", fn);
  napi_create_function(env, "pipe", NAPI_AUTO_LENGTH, make_pipe, NULL, &fn);
  napi_set_named_property(env, exports, "pipe", fn);
  napi_create_function(env, "watch", NAPI_AUTO_LENGTH, watch, NULL, &fn);
  napi_set_named_property(env, exports, "watch", fn);
  return exports;
}
