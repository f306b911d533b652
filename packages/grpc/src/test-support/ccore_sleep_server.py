# A C-core gRPC server (Debian python3-grpcio) with one raw-bytes unary method that sleeps for the number of
# seconds in the request: C-core polices client pings (grpc-js servers do not), so Fairway keepalive defaults
# are checked against it. Prints its port, then serves until killed.
import sys, time, grpc
from concurrent import futures
def handler(req, ctx):
    time.sleep(float(req.decode() or "0"))
    return b"ok"
h = grpc.method_handlers_generic_handler("fairway.test.Sleep", {"Sleep": grpc.unary_unary_rpc_method_handler(handler)})
s = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
s.add_generic_rpc_handlers((h,))
port = s.add_insecure_port("127.0.0.1:0")
s.start()
print(port, flush=True)
s.wait_for_termination()
