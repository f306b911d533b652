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
 * fairway.interop.Silent/Wait: the request, a google.protobuf.StringValue "<seconds>" or "<seconds>/<every>",
 * names how long the call lasts; the server stays silent (no headers, no messages) all that time, or sends
 * "tick" every &lt;every&gt; seconds; then one reply "ok". Messages are encoded by hand (field 1, a short
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
          double every;
          try {
            String[] parts = decodeStringValue(request).split("/", -1);
            if (parts.length > 2) throw new NumberFormatException();
            seconds = Double.parseDouble(parts[0]);
            every = parts.length == 2 ? Double.parseDouble(parts[1]) : 0;
            if (seconds < 0 || every < 0 || (parts.length == 2 && every == 0)) throw new NumberFormatException();
          } catch (NumberFormatException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("the request must be \"<seconds>\" or \"<seconds>/<every>\"").asRuntimeException());
            return;
          }
          ServerCallStreamObserver<byte[]> call = (ServerCallStreamObserver<byte[]>) out;
          long totalMs = (long) (seconds * 1000);
          ScheduledFuture<?> ticks = every > 0
              ? timers.scheduleAtFixedRate(() -> {
                  synchronized (call) {
                    if (!call.isCancelled()) call.onNext(encodeStringValue("tick"));
                  }
                }, (long) (every * 1000), (long) (every * 1000), TimeUnit.MILLISECONDS)
              : null;
          ScheduledFuture<?> reply = timers.schedule(() -> {
            if (ticks != null) ticks.cancel(false);
            synchronized (call) {
              if (!call.isCancelled()) {
                call.onNext(encodeStringValue("ok"));
                call.onCompleted();
              }
            }
          }, totalMs, TimeUnit.MILLISECONDS);
          call.setOnCancelHandler(() -> {
            reply.cancel(false);
            if (ticks != null) ticks.cancel(false);
          });
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
