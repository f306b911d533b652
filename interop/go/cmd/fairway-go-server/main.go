// fairway-go-server is a Go gRPC service written the way a Go team writes one: grpc-go with its default
// server settings (keepalive enforcement included), registered in etcd with go.etcd.io/etcd's
// naming/endpoints Manager, traced with OpenTelemetry (otelgrpc, W3C trace context). It serves
// fairway.test.Echo, fairway.interop.Silent and, with -publisher, the demo's trading.v1.Pricer.
//
// It listens on -listen (port 0 by default), registers when -etcd is given, and then prints one line
// "READY <port>" on stdout. SIGTERM/SIGINT: delete the key, revoke the lease, stop gracefully.
//
// With -runner it also speaks the demo runner's protocol over its standard streams (the Node pods use IPC):
// JSON lines on stdout ({"type":"loaded"}, {"type":"ready",...}, a {"type":"pod-load",...} report every
// second) and JSON control lines on stdin ({"type":"capacity","factor":F}; {"type":"go","port":P} for a
// process started ahead with -wait-for-go); the end of stdin (the runner is gone) stops it like SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	etcdresolver "go.etcd.io/etcd/client/v3/naming/resolver"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fairway/fairway/interop/go/gen/echopb"
	"github.com/fairway/fairway/interop/go/gen/tradingpb"
	fpeer "github.com/fairway/fairway/interop/go/internal/peer"
)

type options struct {
	listen, id, zone, etcd, service, instance, key, metadataStyle, publisher, feed, incarnation, traceFile string
	delayMs, workMs, slots                                                                                 int
	workSigma                                                                                              float64
	ttl                                                                                                    int64
	runner, waitForGo                                                                                      bool
}

func main() {
	var o options
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "host:port to listen on (port 0: the kernel picks one, printed as READY <port>)")
	flag.StringVar(&o.id, "id", "", "server id in Echo replies and the pricer's pod name (default: go-<pid>)")
	flag.StringVar(&o.zone, "zone", "", "zone in replies and in the registration's Metadata")
	flag.IntVar(&o.delayMs, "delay-ms", 0, "service time added to every Echo call, ms (a slow server)")
	flag.StringVar(&o.etcd, "etcd", "", "etcd endpoints host:port,...; empty: do not register")
	flag.StringVar(&o.service, "service", "echo", "service name: the etcd key is <service>/<instance>")
	flag.StringVar(&o.instance, "instance", "", "instance id, the last part of the key (default: the id)")
	flag.StringVar(&o.key, "key", "", "the last part of the etcd key when it differs from the instance, e.g. a pod name unique per process, so a replacement of the same instance has its own key and its predecessor's deregistration does not delete it")
	flag.StringVar(&o.metadataStyle, "metadata", "zone", `registration Metadata: "none" (nil, a plain Go registration), "zone" (map{"zone": <zone>}) or "fairway" (zone, instance and incarnation, so Fairway routes to the newest incarnation)`)
	flag.Int64Var(&o.ttl, "ttl", 10, "lease TTL, seconds")
	flag.StringVar(&o.publisher, "publisher", "", "serve trading.v1.Pricer and publish through this target (e.g. etcd:///publisher)")
	flag.StringVar(&o.feed, "feed", "", "with -publisher: subscribe to the price feed at this target (e.g. etcd:///price-feed)")
	flag.IntVar(&o.workMs, "work-ms", 5, "pricer: simulated pricing work per quote, ms (the mean with -slots)")
	flag.IntVar(&o.slots, "slots", 0, "pricer: quotes worked on at once, the rest wait in FIFO order; 0: no limit and a fixed -work-ms")
	flag.Float64Var(&o.workSigma, "work-sigma", 0.5, "pricer with -slots: log-normal sigma of the service time (0.5: p99 about 2.8 x the mean)")
	flag.BoolVar(&o.runner, "runner", false, "speak the demo runner's protocol: JSON lines on stdout, control lines on stdin")
	flag.BoolVar(&o.waitForGo, "wait-for-go", false, `with -runner: print {"type":"loaded"}, then wait for {"type":"go"} on stdin before listening (a replacement started ahead)`)
	flag.StringVar(&o.traceFile, "trace-file", "", "write spans to this Jaeger JSON file (when OTEL_EXPORTER_OTLP_ENDPOINT is not set)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "fairway-go-server: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.id == "" {
		o.id = fmt.Sprintf("go-%d", os.Getpid())
	}
	if o.instance == "" {
		o.instance = o.id
	}
	if o.metadataStyle != "none" && o.metadataStyle != "zone" && o.metadataStyle != "fairway" {
		return fmt.Errorf(`-metadata must be "none", "zone" or "fairway", got %q`, o.metadataStyle)
	}
	if o.slots < 0 || o.workMs < 0 || o.workSigma < 0 {
		return fmt.Errorf("-slots (%d), -work-ms (%d) and -work-sigma (%g) must not be negative", o.slots, o.workMs, o.workSigma)
	}
	if o.waitForGo && !o.runner {
		return fmt.Errorf("-wait-for-go needs -runner (the go line comes on stdin)")
	}
	var ctl *runnerLink
	if o.runner {
		ctl = newRunnerLink()
		if o.waitForGo {
			ctl.tell(map[string]any{"type": "loaded", "instance": o.instance})
			port, ok := ctl.waitForGo()
			if !ok {
				return nil // the runner went away before starting us
			}
			if port > 0 {
				o.listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			}
		}
	}
	// Fairway's incarnation format: start time in ms and 4 hex digits, so a restart orders after its
	// predecessor (a replacement started ahead takes it when it starts serving, above).
	o.incarnation = fmt.Sprintf("%d-%04x", time.Now().UnixMilli(), rand.IntN(0x10000))
	stopTracing, err := fpeer.SetupTracing(context.Background(), o.traceFile)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer stopTracing()

	lis, err := listenRetrying(o.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.listen, err)
	}
	addr := lis.Addr().(*net.TCPAddr)
	advertised := net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port))

	// Default server options on purpose: the keepalive enforcement is grpc-go's default
	// (MinTime 5 minutes, PermitWithoutStream false), which is what a Fairway client must live with.
	srv := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()))
	srv.RegisterService(&fpeer.EchoServiceDesc, &echoServer{o: o, address: advertised})
	srv.RegisterService(&fpeer.SilentServiceDesc, silentServer{})

	var etcdClient *clientv3.Client
	if o.etcd != "" {
		etcdClient, err = clientv3.New(clientv3.Config{Endpoints: strings.Split(o.etcd, ","), DialTimeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("etcd client: %w", err)
		}
		defer etcdClient.Close()
	}
	var pricer *pricerServer
	if o.publisher != "" {
		if etcdClient == nil && strings.HasPrefix(o.publisher, "etcd:") {
			return fmt.Errorf("-publisher %s needs -etcd", o.publisher)
		}
		pricer, err = newPricer(o, etcdClient)
		if err != nil {
			return err
		}
		if ctl != nil && pricer.pod != nil {
			ctl.mu.Lock()
			ctl.onCapacity = pricer.pod.setCapacityFactor
			ctl.mu.Unlock()
		}
		defer pricer.close()
		srv.RegisterService(&fpeer.PricerServiceDesc, pricer)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()

	var reg *fpeer.Registration
	if etcdClient != nil {
		var md any
		switch {
		case o.metadataStyle == "zone" && o.zone != "":
			md = map[string]string{"zone": o.zone}
		case o.metadataStyle == "fairway":
			m := map[string]string{"instance": o.instance, "incarnation": o.incarnation}
			if o.zone != "" {
				m["zone"] = o.zone
			}
			md = m
		}
		key := o.instance
		if o.key != "" {
			key = o.key
		}
		reg, err = fpeer.Register(etcdClient, o.service, key, advertised, md, o.ttl)
		if err != nil {
			srv.Stop()
			return err
		}
	}
	if ctl != nil {
		ctl.tell(map[string]any{"type": "ready", "instance": o.instance, "incarnation": o.incarnation, "port": addr.Port, "runtime": "go"})
		if pricer != nil && pricer.pod != nil {
			go ctl.reportLoad(pricer.pod, o)
		}
	}
	printLine(fmt.Sprintf("READY %d", addr.Port))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var runnerGone <-chan struct{}
	if ctl != nil {
		runnerGone = ctl.gone
	}
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "fairway-go-server %s: %v, deregistering and stopping\n", o.id, s)
	case <-runnerGone:
		fmt.Fprintf(os.Stderr, "fairway-go-server %s: stdin closed (the runner is gone), deregistering and stopping\n", o.id)
	case err := <-serveErr:
		return err
	}
	// Deregister first (callers stop picking this endpoint), then drain.
	if reg != nil {
		reg.Close()
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		srv.Stop()
	}
	return nil
}

type echoServer struct {
	o       options
	address string
	calls   atomic.Uint64
}

func (s *echoServer) reply(ctx context.Context, req *echopb.EchoRequest, seq uint32, n uint64) (*echopb.EchoReply, error) {
	if req.GetFailCode() != 0 {
		return nil, status.Errorf(codes.Code(req.GetFailCode()), "failing as asked (fail_code %d)", req.GetFailCode())
	}
	r := &echopb.EchoReply{Message: req.GetMessage(), ServerId: s.o.id, Zone: s.o.zone, CallNumber: n, Sequence: seq, Address: s.address}
	if p, ok := peer.FromContext(ctx); ok {
		r.Peer = p.Addr.String()
	}
	return r, nil
}

func (s *echoServer) wait(ctx context.Context, req *echopb.EchoRequest) error {
	d := time.Duration(s.o.delayMs+int(req.GetDelayMs())) * time.Millisecond
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func (s *echoServer) Unary(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoReply, error) {
	n := s.calls.Add(1)
	if err := s.wait(ctx, req); err != nil {
		return nil, err
	}
	return s.reply(ctx, req, 1, n)
}

func (s *echoServer) ServerStream(req *echopb.EchoRequest, stream grpc.ServerStreamingServer[echopb.EchoReply]) error {
	n := s.calls.Add(1)
	count := max(req.GetCount(), 1)
	for i := uint32(1); i <= count; i++ {
		if err := s.wait(stream.Context(), req); err != nil {
			return err
		}
		r, err := s.reply(stream.Context(), req, i, n)
		if err != nil {
			return err
		}
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return nil
}

func (s *echoServer) ClientStream(stream grpc.ClientStreamingServer[echopb.EchoRequest, echopb.EchoReply]) error {
	n := s.calls.Add(1)
	var msgs []string
	for {
		req, err := stream.Recv()
		if err != nil {
			break
		}
		msgs = append(msgs, req.GetMessage())
	}
	r, _ := s.reply(stream.Context(), &echopb.EchoRequest{Message: strings.Join(msgs, ",")}, uint32(len(msgs)), n)
	return stream.SendAndClose(r)
}

func (s *echoServer) Bidi(stream grpc.BidiStreamingServer[echopb.EchoRequest, echopb.EchoReply]) error {
	n := s.calls.Add(1)
	for i := uint32(1); ; i++ {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if err := s.wait(stream.Context(), req); err != nil {
			return err
		}
		r, err := s.reply(stream.Context(), req, i, n)
		if err != nil {
			return err
		}
		if err := stream.Send(r); err != nil {
			return err
		}
	}
}

type silentServer struct{}

// Wait serves "<seconds>" or "<seconds>/<every>": silent (no headers, no messages) for that long, or a "tick"
// every <every> seconds; then "ok".
func (silentServer) Wait(req *wrapperspb.StringValue, stream grpc.ServerStreamingServer[wrapperspb.StringValue]) error {
	bad := status.Errorf(codes.InvalidArgument, `the request must be "<seconds>" or "<seconds>/<every>", got %q`, req.GetValue())
	parts := strings.Split(req.GetValue(), "/")
	if len(parts) > 2 {
		return bad
	}
	secs, err := strconv.ParseFloat(parts[0], 64)
	if err != nil || secs < 0 {
		return bad
	}
	var every time.Duration
	if len(parts) == 2 {
		e, err := strconv.ParseFloat(parts[1], 64)
		if err != nil || e <= 0 {
			return bad
		}
		every = time.Duration(e * float64(time.Second))
	}
	end := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer end.Stop()
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-end.C:
			return stream.Send(wrapperspb.String("ok"))
		case <-tick:
			if err := stream.Send(wrapperspb.String("tick")); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
}

// The demo's symbols and their starting mid prices (examples/trading-pipeline/src/symbols.ts).
var symbols = map[string]float64{"ACME": 101.5, "GLOBX": 47.2, "INITECH": 12.9, "UMBR": 230.0, "WAYNE": 88.8}

type pricerServer struct {
	o         options
	publisher *grpc.ClientConn
	feed      *grpc.ClientConn
	cancel    context.CancelFunc
	mu        sync.Mutex
	book      map[string]*tradingpb.Tick
	inFlight  atomic.Int32
	// With -slots: the pricing work goes through a pod with a capacity; nil: a fixed -work-ms sleep.
	pod *pod
}

func dial(target string, etcdClient *clientv3.Client) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
	}
	if etcdClient != nil {
		b, err := etcdresolver.NewBuilder(etcdClient)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithResolvers(b))
	}
	return grpc.NewClient(target, opts...)
}

func newPricer(o options, etcdClient *clientv3.Client) (*pricerServer, error) {
	pub, err := dial(o.publisher, etcdClient)
	if err != nil {
		return nil, fmt.Errorf("publisher client %s: %w", o.publisher, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pricerServer{o: o, publisher: pub, cancel: cancel, book: map[string]*tradingpb.Tick{}}
	if o.slots > 0 {
		p.pod = newPod(o.slots, float64(o.workMs), o.workSigma)
	}
	if o.feed != "" {
		p.feed, err = dial(o.feed, etcdClient)
		if err != nil {
			pub.Close()
			cancel()
			return nil, fmt.Errorf("feed client %s: %w", o.feed, err)
		}
		go p.subscribe(ctx)
	}
	return p, nil
}

// subscribe keeps one stream of ticks from the feed open, re-subscribing after a drop.
func (p *pricerServer) subscribe(ctx context.Context) {
	for ctx.Err() == nil {
		// Fairway's client identity: the feed keeps only the newest incarnation's stream per instance.
		md := metadata.Pairs("fairway-client-instance", p.o.instance, "fairway-client-incarnation", p.o.incarnation)
		sctx := metadata.NewOutgoingContext(ctx, md)
		stream, err := p.feed.NewStream(sctx, &fpeer.FeedSubscribeDesc, fpeer.FeedSubscribeMethod)
		if err == nil {
			err = stream.SendMsg(&tradingpb.SubscribeRequest{Subscriber: p.o.instance, Incarnation: p.o.incarnation})
			if err == nil {
				err = stream.CloseSend()
			}
			for err == nil {
				t := new(tradingpb.Tick)
				if err = stream.RecvMsg(t); err == nil {
					p.mu.Lock()
					p.book[t.GetSymbol()] = t
					p.mu.Unlock()
				}
			}
		}
		if c := status.Code(err); c == codes.Aborted || c == codes.FailedPrecondition {
			return // a newer incarnation of this subscriber took the stream
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *pricerServer) Quote(ctx context.Context, req *tradingpb.QuoteRequest) (*tradingpb.QuoteReply, error) {
	base, ok := symbols[req.GetSymbol()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown symbol %q", req.GetSymbol())
	}
	inFlight := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	if p.pod != nil {
		if err := p.pod.serve(ctx); err != nil {
			return nil, status.FromContextError(err).Err()
		}
	} else {
		select {
		case <-time.After(time.Duration(p.o.workMs) * time.Millisecond):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	p.mu.Lock()
	t := p.book[req.GetSymbol()]
	p.mu.Unlock()
	mid := base
	if t != nil {
		mid = (t.GetBid() + t.GetAsk()) / 2
	}
	spread := 0.0005 * math.Log10(10+math.Abs(req.GetQuantity()))
	factor := 1 + spread
	if req.GetSide() == "sell" {
		factor = 1 - spread
	}
	price := math.Round(mid*factor*100) / 100
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	pub := new(tradingpb.PublishReply)
	// ctx carries the caller's span (otelgrpc server handler): the publish continues the same trace.
	if err := p.publisher.Invoke(pctx, fpeer.PublisherPublishName, &tradingpb.PublishRequest{Symbol: req.GetSymbol(), Price: price, Pricer: p.o.instance}, pub); err != nil {
		return nil, status.Errorf(codes.Unavailable, "publish failed: %v", status.Convert(err).Message())
	}
	return &tradingpb.QuoteReply{
		Symbol: req.GetSymbol(), Price: price, TickSeq: t.GetSeq(), Pod: p.o.instance, Zone: p.o.zone,
		Incarnation: p.o.incarnation, InFlight: uint32(inFlight),
		PublisherPod: pub.GetPod(), PublisherZone: pub.GetZone(),
	}, nil
}

func (p *pricerServer) close() {
	p.cancel()
	p.publisher.Close()
	if p.feed != nil {
		p.feed.Close()
	}
}
