package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// JaegerFileExporter writes the spans it is given as one Jaeger JSON file (the format of Jaeger's
// "JSON File" upload and of @fairway/telemetry's jaeger-json-file exporter), rewriting the whole file
// atomically after each batch, so a process stopped at any moment leaves a readable file.
type JaegerFileExporter struct {
	path   string
	mu     sync.Mutex
	traces map[string]*jaegerTrace
	order  []string
}

type jaegerTag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type jaegerRef struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerSpan struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	Flags         int         `json:"flags"`
	OperationName string      `json:"operationName"`
	References    []jaegerRef `json:"references"`
	StartTime     int64       `json:"startTime"`
	Duration      int64       `json:"duration"`
	Tags          []jaegerTag `json:"tags"`
	Logs          []any       `json:"logs"`
	ProcessID     string      `json:"processID"`
	Warnings      []string    `json:"warnings"`
}

type jaegerProcess struct {
	ServiceName string      `json:"serviceName"`
	Tags        []jaegerTag `json:"tags"`
}

type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
	Warnings  []string                 `json:"warnings"`
}

// NewJaegerFileExporter writes to path (its directory is made if missing).
func NewJaegerFileExporter(path string) *JaegerFileExporter {
	return &JaegerFileExporter{path: path, traces: map[string]*jaegerTrace{}}
}

func tagOf(kv attribute.KeyValue) jaegerTag {
	k := string(kv.Key)
	switch kv.Value.Type() {
	case attribute.BOOL:
		return jaegerTag{k, "bool", kv.Value.AsBool()}
	case attribute.INT64:
		return jaegerTag{k, "int64", kv.Value.AsInt64()}
	case attribute.FLOAT64:
		return jaegerTag{k, "float64", kv.Value.AsFloat64()}
	default:
		return jaegerTag{k, "string", kv.Value.Emit()}
	}
}

var spanKinds = map[trace.SpanKind]string{trace.SpanKindServer: "server", trace.SpanKindClient: "client", trace.SpanKindProducer: "producer", trace.SpanKindConsumer: "consumer", trace.SpanKindInternal: "internal"}

// ExportSpans adds the spans to their traces and rewrites the file.
func (e *JaegerFileExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		sc := s.SpanContext()
		tid := sc.TraceID().String()
		t := e.traces[tid]
		if t == nil {
			t = &jaegerTrace{TraceID: tid, Processes: map[string]jaegerProcess{}, Spans: []jaegerSpan{}}
			e.traces[tid] = t
			e.order = append(e.order, tid)
		}
		if _, ok := t.Processes["p1"]; !ok {
			proc := jaegerProcess{ServiceName: "unknown_service", Tags: []jaegerTag{}}
			for _, kv := range s.Resource().Attributes() {
				if kv.Key == "service.name" {
					proc.ServiceName = kv.Value.Emit()
				} else {
					proc.Tags = append(proc.Tags, tagOf(kv))
				}
			}
			t.Processes["p1"] = proc
		}
		refs := []jaegerRef{}
		if p := s.Parent(); p.IsValid() {
			refs = append(refs, jaegerRef{"CHILD_OF", p.TraceID().String(), p.SpanID().String()})
		}
		tags := []jaegerTag{{"span.kind", "string", spanKinds[s.SpanKind()]}}
		for _, kv := range s.Attributes() {
			tags = append(tags, tagOf(kv))
		}
		if st := s.Status(); st.Code.String() == "Error" {
			tags = append(tags, jaegerTag{"error", "bool", true}, jaegerTag{"otel.status_description", "string", st.Description})
		}
		t.Spans = append(t.Spans, jaegerSpan{
			TraceID: tid, SpanID: sc.SpanID().String(), Flags: int(sc.TraceFlags()), OperationName: s.Name(),
			References: refs, StartTime: s.StartTime().UnixMicro(), Duration: max(0, s.EndTime().Sub(s.StartTime()).Microseconds()),
			Tags: tags, Logs: []any{}, ProcessID: "p1",
		})
	}
	return e.write()
}

func (e *JaegerFileExporter) write() error {
	data := make([]*jaegerTrace, 0, len(e.order))
	for _, id := range e.order {
		data = append(data, e.traces[id])
	}
	b, err := json.Marshal(map[string]any{"data": data, "total": len(data), "limit": 0, "offset": 0, "errors": nil})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(e.path), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", e.path, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, e.path)
}

// Shutdown has nothing to flush: every batch is already written.
func (e *JaegerFileExporter) Shutdown(context.Context) error { return nil }
