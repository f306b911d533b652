// fairway-go-client is a Go client written the way a Go team writes one: grpc-go with etcd's
// client/v3/naming/resolver (target etcd:///<service>) and round_robin. It finds the endpoints registered
// under <service>/ in etcd (by Fairway's registrar or by Go's endpoints.Manager), makes -calls
// fairway.test.Echo/Unary calls and prints one JSON line: {"ok":N,"failed":N,"byServer":{...},"errors":[...]}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	etcdresolver "go.etcd.io/etcd/client/v3/naming/resolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fairway/fairway/interop/go/gen/echopb"
	fpeer "github.com/fairway/fairway/interop/go/internal/peer"
)

type summary struct {
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	ByServer map[string]int `json:"byServer"`
	Errors   []string       `json:"errors"`
}

func main() {
	etcd := flag.String("etcd", "127.0.0.1:2379", "etcd endpoints host:port,...")
	target := flag.String("target", "etcd:///echo", "gRPC target")
	calls := flag.Int("calls", 30, "Echo.Unary calls to make")
	concurrency := flag.Int("concurrency", 3, "calls in flight at once")
	timeout := flag.Duration("timeout", 10*time.Second, "per-call deadline")
	waitReady := flag.Duration("wait-ready", 10*time.Second, "wait this long for the target to resolve to a ready endpoint")
	flag.Parse()
	if *calls < 0 || *concurrency < 1 {
		fmt.Fprintln(os.Stderr, "fairway-go-client: -calls must be >= 0 and -concurrency >= 1")
		os.Exit(2)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*etcd, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fairway-go-client: etcd client: %v\n", err)
		os.Exit(1)
	}
	defer cli.Close()
	stopTracing, err := fpeer.SetupTracing(context.Background(), "")
	if err != nil {
		fmt.Fprintf(os.Stderr, "fairway-go-client: tracing: %v\n", err)
		os.Exit(1)
	}
	defer stopTracing()
	builder, err := etcdresolver.NewBuilder(cli)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fairway-go-client: resolver: %v\n", err)
		os.Exit(1)
	}
	conn, err := grpc.NewClient(*target,
		grpc.WithResolvers(builder),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fairway-go-client: %s: %v\n", *target, err)
		os.Exit(1)
	}
	defer conn.Close()

	// The first call waits for resolution and a connection (wait-for-ready), so an empty first resolution
	// is not counted as a failure.
	ctx, cancel := context.WithTimeout(context.Background(), *waitReady)
	first := new(echopb.EchoReply)
	err = conn.Invoke(ctx, fpeer.EchoUnaryMethod, &echopb.EchoRequest{Message: "ready?"}, first, grpc.WaitForReady(true))
	cancel()
	s := summary{ByServer: map[string]int{}, Errors: []string{}}
	if err != nil {
		s.Failed = *calls
		s.Errors = append(s.Errors, "first call: "+err.Error())
		out(s)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), *timeout)
				r := new(echopb.EchoReply)
				err := conn.Invoke(ctx, fpeer.EchoUnaryMethod, &echopb.EchoRequest{Message: fmt.Sprintf("go-%d", i)}, r)
				cancel()
				mu.Lock()
				if err != nil {
					s.Failed++
					if len(s.Errors) < 5 {
						s.Errors = append(s.Errors, err.Error())
					}
				} else {
					s.OK++
					s.ByServer[r.GetServerId()]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *calls; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	out(s)
	if s.Failed > 0 {
		os.Exit(1)
	}
}

func out(s summary) {
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
}
