"""A C-core gRPC server (grpcio: Debian's python3-grpcio or PyPI's) with every keepalive setting at its default,
serving fairway.interop.Silent/Wait: the request, a google.protobuf.StringValue, names how many seconds to stay
silent (no headers, no messages); then one reply "ok". Messages are encoded by hand (field 1, a short string),
so no protobuf package is needed. Listens on 127.0.0.1 port 0 and prints "READY <port>"; serves until killed.
"""
import sys
import threading
from concurrent import futures

import grpc


def decode_string_value(b: bytes) -> str:
    if len(b) < 2 or b[0] != 0x0A or b[1] != len(b) - 2:
        return ""
    return b[2:].decode("utf-8")


def encode_string_value(s: str) -> bytes:
    v = s.encode("utf-8")
    return bytes([0x0A, len(v)]) + v


def wait(request: bytes, context: grpc.ServicerContext):
    try:
        seconds = float(decode_string_value(request))
    except ValueError:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request must be a number of seconds")
    done = threading.Event()
    context.add_callback(done.set)  # the call was cancelled or the connection closed
    if done.wait(seconds):
        return
    yield encode_string_value("ok")


def main() -> None:
    handler = grpc.method_handlers_generic_handler(
        "fairway.interop.Silent", {"Wait": grpc.unary_stream_rpc_method_handler(wait)}
    )
    # No options: the keepalive enforcement stays at C-core's defaults.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"READY {port} grpcio {grpc.__version__}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
