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
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

/* The child's signals as Node's spawn leaves them: every one at its default, none blocked. */
static void signals_to_defaults(posix_spawnattr_t *attr) {
  sigset_t all, none;
  sigfillset(&all);
  add_internal_signals(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(attr, &all);
  posix_spawnattr_setsigmask(attr, &none);
  posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
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
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
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
  signals_to_defaults(&attr);
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

/*
 * collect: a short-lived tool run to its end on a thread of its own, for run()'s common case (its
 * input written, its output gathered, its status collected). The event loop makes one call and gets
 * one callback; the pipes, their streams and the exit watch cost 0.3-0.5 ms of the loop per tool
 * otherwise (interpreted), ~40 ms of a burst of ten nat starts. A thread of its own, not one of
 * libuv's pool: a tool that runs for seconds must not hold up the daemon's file operations.
 */
typedef struct {
  char *data;
  size_t len, cap;
} out_buffer;

typedef struct {
  uv_async_t async;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  char *file;
  char **argv;
  char **envp;
  char *cwd;
  char *input;  /* NULL: stdin is /dev/null */
  size_t input_len;
  char *netns;  /* NULL: the daemon's network namespace */
  int64_t timeout_ms;  /* 0: no limit */
  int err;
  const char *what;
  int status;  /* from waitid: si_code and si_status */
  int si_code;
  out_buffer out, errout;
} collect_request;

static void free_collect(uv_handle_t *handle) {
  collect_request *r = handle->data;
  free(r->file), free_strings(r->argv), free_strings(r->envp), free(r->cwd), free(r->input), free(r->netns);
  free(r->out.data), free(r->errout.data);
  free(r);
}

/* Reads what is there; returns 0 at the end (or on an error), 1 while the pipe stays open. */
static int drain(int fd, out_buffer *b) {
  for (;;) {
    if (b->cap - b->len < 4096) {
      size_t cap = b->cap == 0 ? 8192 : b->cap * 2;
      char *data = realloc(b->data, cap);
      if (data == NULL) return 0;
      b->data = data, b->cap = cap;
    }
    ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
    if (n > 0) { b->len += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN ? 1 : 0;
  }
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A pipe whose child end is high (see HIGH_FD) and whose end of ours is non-blocking. */
static int tool_pipe(int fds[2], int child_end) {
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  int high = fcntl(fds[child_end], F_DUPFD_CLOEXEC, HIGH_FD);
  if (high < 0) { close(fds[0]), close(fds[1]); return -1; }
  close(fds[child_end]);
  fds[child_end] = high;
  int ours = fds[1 - child_end];
  fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK);
  return 0;
}

static void *collect_thread(void *data) {
  collect_request *r = data;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, pidfd = -1;
  pid_t pid = 0;
  if (r->netns != NULL) {
    /* This thread only, and it ends with the collect: the tool is started in the namespace (as
       nsenter --net would, without nsenter's own exec). */
    r->what = "open netns";
    int ns = open(r->netns, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
      r->err = errno;
      goto done;
    }
    r->what = "setns";
    if (setns(ns, CLONE_NEWNET) != 0) r->err = errno;
    close(ns);
    if (r->err != 0) goto done;
  }
  r->what = "pipe2";
  if ((r->input != NULL && tool_pipe(in, 0) != 0) || tool_pipe(out, 1) != 0 || tool_pipe(errp, 1) != 0) {
    r->err = errno;
    goto done;
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  if (in[0] >= 0) posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  else posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, errp[1], 2);
  if (r->cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, r->cwd);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  signals_to_defaults(&attr);
  r->err = posix_spawn(&pid, r->file, &actions, &attr, r->argv, r->envp);
  r->what = "spawn";
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (r->err != 0) goto done;
  close(in[0]), close(out[1]), close(errp[1]);
  in[0] = out[1] = errp[1] = -1;
  pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    r->err = errno;
    r->what = "pidfd_open";
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    goto done;
  }
  size_t written = 0;
  if (in[1] >= 0 && r->input_len == 0) close(in[1]), in[1] = -1;
  bool exited = false, killed = false;
  int64_t deadline = r->timeout_ms > 0 ? now_ms() + r->timeout_ms : 0;
  /* As a ChildProcess's 'close': the exit, and the end of both outputs. */
  while (!exited || out[0] >= 0 || errp[0] >= 0) {
    struct pollfd p[4];
    int n = 0, wait = -1;
    p[n++] = (struct pollfd){.fd = exited ? -1 : pidfd, .events = POLLIN};
    p[n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
    p[n++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
    p[n++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
    if (deadline != 0 && !killed && !exited) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        kill(pid, SIGKILL); /* our child, not yet collected: never a recycled pid */
        killed = true;
      } else {
        wait = (int)left;
      }
    }
    if (poll(p, (nfds_t)n, wait) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents != 0) exited = true;
    if (p[1].revents != 0 && !drain(out[0], &r->out)) close(out[0]), out[0] = -1;
    if (p[2].revents != 0 && !drain(errp[0], &r->errout)) close(errp[0]), errp[0] = -1;
    if (p[3].revents != 0) {
      ssize_t w = (p[3].revents & POLLOUT) != 0 ? write(in[1], r->input + written, r->input_len - written) : -1;
      if (w > 0) written += (size_t)w;
      /* Written, or the tool closed its stdin (EPIPE: Node ignores SIGPIPE): it gets no more. */
      if (written == r->input_len || (w < 0 && errno != EAGAIN && errno != EINTR)) close(in[1]), in[1] = -1;
    }
  }
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int w;
  do w = waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED); while (w < 0 && errno == EINTR);
  if (w < 0) {
    r->err = errno;
    r->what = "waitid";
  } else {
    r->si_code = si.si_code;
    r->status = si.si_status;
  }
done:
  for (int i = 0; i < 2; i++) {
    if (in[i] >= 0) close(in[i]);
    if (out[i] >= 0) close(out[i]);
    if (errp[i] >= 0) close(errp[i]);
  }
  if (pidfd >= 0) close(pidfd);
  uv_async_send(&r->async);
  return NULL;
}

/*
 * Calls the JS callback held by `callback` with `argv` in `context` (an exception it throws is fatal,
 * as in any callback of Node's own), then lets go of the callback, the context and `scope`.
 */
static void call_back_once(napi_env env, napi_ref callback, napi_async_context context, size_t argc, napi_value *argv, napi_handle_scope scope) {
  napi_value fn, global, ignored;
  napi_get_reference_value(env, callback, &fn);
  napi_get_global(env, &global);
  if (napi_make_callback(env, context, global, fn, argc, argv, &ignored) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_delete_reference(env, callback);
  napi_async_destroy(env, context);
  napi_close_handle_scope(env, scope);
}

static void collect_done(uv_async_t *async) {
  collect_request *r = async->data;
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[5];
  napi_get_null(env, &argv[0]);
  napi_get_null(env, &argv[1]);
  napi_get_null(env, &argv[2]);
  if (r->err != 0) {
    argv[0] = errno_error(env, r->err, r->what);
    napi_get_null(env, &argv[3]);
    napi_get_null(env, &argv[4]);
  } else {
    if (r->si_code == CLD_EXITED) napi_create_int32(env, r->status, &argv[1]);
    else napi_create_int32(env, r->status, &argv[2]);
    napi_create_string_utf8(env, r->out.len == 0 ? "" : r->out.data, r->out.len, &argv[3]);
    napi_create_string_utf8(env, r->errout.len == 0 ? "" : r->errout.data, r->errout.len, &argv[4]);
  }
  call_back_once(env, r->callback, r->context, 5, argv, scope);
  uv_close((uv_handle_t *)async, free_collect);
}

/*
 * collect(file, argv, env, cwd | null, input | null, timeoutMs, callback(err, code, signal, stdout, stderr)):
 * runs the tool with stdin from `input` (or /dev/null) and stdout and stderr gathered, every other fd
 * closed and signals at their defaults, as spawn(); kills it with SIGKILL after timeoutMs (0: never);
 * calls back once it has exited and both outputs have ended. err (code ENOENT, EACCES, ...): it
 * could not be run at all. Holds the event loop open meanwhile, as a child_process does.
 */
static napi_value collect_in(napi_env env, napi_value *all, size_t argc, bool in_netns) {
  /* collectIn's first argument is the namespace; the rest are collect's. */
  napi_value *args = in_netns ? all + 1 : all;
  napi_valuetype callbackType = napi_undefined, cwdType = napi_undefined, inputType = napi_undefined;
  if (argc == (in_netns ? 8u : 7u)) napi_typeof(env, args[6], &callbackType);
  if (callbackType != napi_function) {
    napi_throw_type_error(env, NULL, in_netns ? "collectIn(netns, file, argv, env, cwd, input, timeoutMs, callback)" : "collect(file, argv, env, cwd, input, timeoutMs, callback)");
    return NULL;
  }
  collect_request *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, ENOMEM, "collect");
  if (in_netns) r->netns = string_of(env, all[0]);
  r->async.data = r;
  r->file = string_of(env, args[0]);
  r->argv = strings_of(env, args[1]);
  r->envp = strings_of(env, args[2]);
  napi_typeof(env, args[3], &cwdType);
  r->cwd = cwdType == napi_string ? string_of(env, args[3]) : NULL;
  napi_typeof(env, args[4], &inputType);
  if (inputType == napi_string) {
    r->input = string_of(env, args[4]);
    /* Its length in bytes from N-API, not strlen: the text may hold a NUL. */
    if (r->input != NULL) napi_get_value_string_utf8(env, args[4], NULL, 0, &r->input_len);
  }
  napi_get_value_int64(env, args[5], &r->timeout_ms);
  if (r->file == NULL || r->argv == NULL || r->envp == NULL || (inputType == napi_string && r->input == NULL) || (in_netns && r->netns == NULL)) {
    free_collect((uv_handle_t *)&r->async);
    napi_throw_type_error(env, NULL, "collect: netns and file must be strings, argv and env arrays of strings, input a string or null");
    return NULL;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_async_init(loop, &r->async, collect_done);
  if (rc != 0) {
    free_collect((uv_handle_t *)&r->async);
    return throw_errno(env, -rc, "collect");
  }
  r->env = env;
  napi_create_reference(env, args[6], 1, &r->callback);
  napi_value name;
  napi_create_string_utf8(env, "dobby:collect", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->context);
  pthread_attr_t attr;
  pthread_t thread;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  rc = pthread_create(&thread, &attr, collect_thread, r);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    napi_delete_reference(env, r->callback);
    napi_async_destroy(env, r->context);
    uv_close((uv_handle_t *)&r->async, free_collect);
    return throw_errno(env, rc, "collect");
  }
  return NULL;
}

static napi_value collect(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  return collect_in(env, args, argc, false);
}

/* collectIn(netnsPath, file, argv, env, cwd | null, input | null, timeoutMs, callback): collect, with the
   tool started in the network namespace of that file (/proc/<pid>/ns/net); err.message starts with
   "open netns" or "setns" when it cannot be entered. */
static napi_value collect_netns(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value args[8];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  return collect_in(env, args, argc, true);
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/*
 * sealedCopy(path) → fd: a memfd (close-on-exec) holding the file's bytes, sealed against writes,
 * growth, shrinking and further seals. crun and runc re-execute themselves from a protected copy at
 * every call (CVE-2019-5736) unless the binary they run from is such a memfd; exec'd through
 * /proc/<pid>/fd/<fd>, the copy spares them that. MFD_EXEC where the kernel knows it (6.3+, where
 * vm.memfd_noexec may otherwise make the copy non-executable). Throws with the errno's code.
 */
static napi_value sealed_copy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  char *path = argc == 1 ? string_of(env, args[0]) : NULL;
  if (path == NULL) {
    napi_throw_type_error(env, NULL, "sealedCopy(path)");
    return NULL;
  }
  int src = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  if (src < 0) return throw_errno(env, errno, "open");
  struct stat st;
  if (fstat(src, &st) != 0) {
    int err = errno;
    close(src);
    return throw_errno(env, err, "fstat");
  }
  int fd = memfd_create("oci-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("oci-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    int err = errno;
    close(src);
    return throw_errno(env, err, "memfd_create");
  }
  off_t offset = 0;
  while (offset < st.st_size) {
    ssize_t n = sendfile(fd, src, &offset, (size_t)(st.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(src), close(fd);
      return throw_errno(env, err, "sendfile");
    }
  }
  close(src);
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "F_ADD_SEALS");
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
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
  napi_value argv[2];
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
  call_back_once(env, w->callback, w->context, 2, argv, scope);
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
  napi_create_function(env, "sealedCopy", NAPI_AUTO_LENGTH, sealed_copy, NULL, &fn);
  napi_set_named_property(env, exports, "sealedCopy", fn);
  napi_create_function(env, "collect", NAPI_AUTO_LENGTH, collect, NULL, &fn);
  napi_set_named_property(env, exports, "collect", fn);
  napi_create_function(env, "collectIn", NAPI_AUTO_LENGTH, collect_netns, NULL, &fn);
  napi_set_named_property(env, exports, "collectIn", fn);
  napi_create_function(env, "pipe", NAPI_AUTO_LENGTH, make_pipe, NULL, &fn);
  napi_set_named_property(env, exports, "pipe", fn);
  napi_create_function(env, "watch", NAPI_AUTO_LENGTH, watch, NULL, &fn);
  napi_set_named_property(env, exports, "watch", fn);
  return exports;
}
