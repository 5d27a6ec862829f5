// Marks every open fd of the process (above stdio) close-on-exec, so no child inherits what it was
// not handed explicitly. usocket (dbus-next's fd-passing transport) makes its bus socket and the fds it
// receives without FD_CLOEXEC; without this, every conmon would keep the daemon's D-Bus connection
// (and the fds other clients passed in) alive after the daemon died.
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <node_api.h>

static napi_value mark_all_cloexec(napi_env env, napi_callback_info info) {
  (void)info;
  int changed = 0;
  DIR *dir = opendir("/proc/self/fd");
  if (dir != NULL) {
    int own = dirfd(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      int fd = atoi(entry->d_name);
      if (fd < 3 || fd == own) continue;
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0 && (flags & FD_CLOEXEC) == 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0) changed++;
    }
    closedir(dir);
  }
  napi_value result;
  napi_create_int32(env, dir == NULL ? -1 : changed, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "markAllCloexec", NAPI_AUTO_LENGTH, mark_all_cloexec, NULL, &fn);
  napi_set_named_property(env, exports, "markAllCloexec", fn);
  return exports;
}
