// Sends one datagram to a Unix datagram socket named by its path: journald's native socket and syslog's
// /dev/log are SOCK_DGRAM, and Node's dgram module has no AF_UNIX. A non-blocking socket per datagram: a
// full receiver drops the message (EAGAIN) instead of stalling the daemon, and no fd outlives the call.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>

static napi_value result_of(napi_env env, int value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

// sendDatagram(path: string, data: Buffer): 0, or the errno of the failure.
static napi_value send_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return result_of(env, EINVAL);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof(addr.sun_path), &length) != napi_ok) return result_of(env, EINVAL);
  if (length == 0 || length >= sizeof(addr.sun_path) - 1) return result_of(env, ENAMETOOLONG);
  void *data = NULL;
  size_t size = 0;
  if (napi_get_buffer_info(env, argv[1], &data, &size) != napi_ok) return result_of(env, EINVAL);
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (sock < 0) return result_of(env, errno);
  ssize_t sent = sendto(sock, data, size, MSG_NOSIGNAL, (struct sockaddr *)&addr, sizeof(addr));
  int error = sent < 0 ? errno : 0;
  close(sock);
  return result_of(env, error);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendDatagram", NAPI_AUTO_LENGTH, send_datagram, NULL, &fn);
  napi_set_named_property(env, exports, "sendDatagram", fn);
  return exports;
}
