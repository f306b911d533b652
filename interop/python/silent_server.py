"""A C-core gRPC server (grpcio: Debian's python3-grpcio or PyPI's) with every keepalive setting at its default,
serving fairway.interop.Silent/Wait: the request, a google.protobuf.StringValue "<seconds>" or
"<seconds>/<every>", names how long the call lasts; the server stays silent (no headers, no messages) all that
time, or sends "tick" every <every> seconds; then one reply "ok". Messages are encoded by hand (field 1, a short string),
so no protobuf package is needed. Listens on 127.0.0.1 port 0 and prints "READY <port>"; serves until killed.
"""
import sys
import threading
import time
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
        parts = [float(x) for x in decode_string_value(request).split("/")]
        if len(parts) > 2 or min(parts) < 0 or (len(parts) == 2 and parts[1] <= 0):
            raise ValueError
    except ValueError:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'the request must be "<seconds>" or "<seconds>/<every>"')
    seconds, every = parts[0], (parts[1] if len(parts) == 2 else None)
    done = threading.Event()
    context.add_callback(done.set)  # the call was cancelled or the connection closed
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if done.wait(min(left, every) if every else left):
            return
        if every and deadline - time.monotonic() > 0:
            yield encode_string_value("tick")
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
