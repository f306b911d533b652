package fairway.interop;

import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A grpc-java (Netty) server with every keepalive setting at its default, serving
 * fairway.interop.Silent/Wait: the request, a google.protobuf.StringValue, names how many seconds to stay
 * silent (no headers, no messages); then one reply "ok". Messages are encoded by hand (field 1, a short
 * string), so no protoc is needed. Listens on 127.0.0.1 port 0 and prints "READY <port>".
 */
public final class SilentServer {
  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override public InputStream stream(byte[] value) { return new ByteArrayInputStream(value); }
    @Override public byte[] parse(InputStream stream) {
      try { return stream.readAllBytes(); } catch (IOException e) { throw new UncheckedIOException(e); }
    }
  };

  private static final MethodDescriptor<byte[], byte[]> WAIT = MethodDescriptor.<byte[], byte[]>newBuilder()
      .setType(MethodDescriptor.MethodType.SERVER_STREAMING)
      .setFullMethodName("fairway.interop.Silent/Wait")
      .setRequestMarshaller(BYTES)
      .setResponseMarshaller(BYTES)
      .build();

  /** The value of a StringValue (field 1, length-delimited, shorter than 128 bytes); "" when absent. */
  static String decodeStringValue(byte[] b) {
    if (b.length < 2 || b[0] != 0x0a || (b[1] & 0xff) != b.length - 2) return "";
    return new String(b, 2, b.length - 2, StandardCharsets.UTF_8);
  }

  static byte[] encodeStringValue(String s) {
    byte[] v = s.getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[v.length + 2];
    out[0] = 0x0a;
    out[1] = (byte) v.length;
    System.arraycopy(v, 0, out, 2, v.length);
    return out;
  }

  public static void main(String[] args) throws Exception {
    ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor();
    ServerServiceDefinition silent = ServerServiceDefinition.builder("fairway.interop.Silent")
        .addMethod(WAIT, ServerCalls.asyncServerStreamingCall((byte[] request, StreamObserver<byte[]> out) -> {
          double seconds;
          try {
            seconds = Double.parseDouble(decodeStringValue(request));
          } catch (NumberFormatException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("the request must be a number of seconds").asRuntimeException());
            return;
          }
          ScheduledFuture<?> reply = timers.schedule(() -> {
            out.onNext(encodeStringValue("ok"));
            out.onCompleted();
          }, (long) (seconds * 1000), TimeUnit.MILLISECONDS);
          ((ServerCallStreamObserver<byte[]>) out).setOnCancelHandler(() -> reply.cancel(false));
        }))
        .build();
    // Nothing but the address and the service: keepalive enforcement stays at grpc-java's defaults.
    Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .addService(silent)
        .build()
        .start();
    System.out.println("READY " + server.getPort());
    System.out.flush();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.shutdownNow();
      timers.shutdownNow();
    }));
    server.awaitTermination();
  }
}
