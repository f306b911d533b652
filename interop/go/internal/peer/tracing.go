package peer

import (
	"context"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// SetupTracing installs the W3C trace-context propagator (so traceparent continues through this process)
// and, when OTEL_EXPORTER_OTLP_ENDPOINT is set, an OTLP/gRPC span exporter (service name from
// OTEL_SERVICE_NAME); otherwise, when jaegerFile is not empty, a Jaeger JSON file exporter (the file the
// demo's Node processes write, merged by the demo runner). The sampler follows OTEL_TRACES_SAMPLER (the SDK
// reads it; parent-based by default, so a traced call stays traced). The returned function flushes and stops it.
func SetupTracing(ctx context.Context, jaegerFile string) (func(), error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	opts := []sdktrace.TracerProviderOption{}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(500*time.Millisecond)))
	} else if jaegerFile != "" {
		opts = append(opts, sdktrace.WithBatcher(NewJaegerFileExporter(jaegerFile), sdktrace.WithBatchTimeout(time.Second)))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return func() {
		c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = tp.Shutdown(c)
	}, nil
}
