package main

// The demo runner's protocol over standard streams (the Node pods speak it over an IPC channel): one JSON
// object per line each way. Out: loaded, ready, pod-load (every second). In: capacity, go.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

var stdoutMu sync.Mutex

// printLine writes one whole line to stdout (the READY line and the JSON lines never interleave).
func printLine(line string) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	fmt.Fprintln(os.Stdout, line)
	_ = os.Stdout.Sync()
}

type runnerLink struct {
	goPort     chan int
	gone       chan struct{}
	mu         sync.Mutex
	onCapacity func(float64)
}

// newRunnerLink starts reading control lines from stdin; a malformed line is reported on stderr and skipped.
func newRunnerLink() *runnerLink {
	l := &runnerLink{goPort: make(chan int, 1), gone: make(chan struct{})}
	go func() {
		defer close(l.gone)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var m struct {
				Type   string   `json:"type"`
				Factor *float64 `json:"factor"`
				Port   int      `json:"port"`
			}
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				fmt.Fprintf(os.Stderr, "fairway-go-server: ignoring a control line that is not JSON: %q\n", sc.Text())
				continue
			}
			switch m.Type {
			case "go":
				select {
				case l.goPort <- m.Port:
				default: // a second go: already started
				}
			case "capacity":
				l.mu.Lock()
				f := l.onCapacity
				l.mu.Unlock()
				if m.Factor == nil || !(*m.Factor > 0 && *m.Factor <= 1) {
					fmt.Fprintf(os.Stderr, "fairway-go-server: capacity factor must be in (0, 1]: %q\n", sc.Text())
				} else if f != nil {
					f(*m.Factor)
				}
			default:
				fmt.Fprintf(os.Stderr, "fairway-go-server: unknown control message %q\n", sc.Text())
			}
		}
	}()
	return l
}

func (l *runnerLink) tell(m map[string]any) {
	b, err := json.Marshal(m)
	if err == nil {
		printLine(string(b))
	}
}

// waitForGo returns the port to take over (0: any), or false when stdin closed first.
func (l *runnerLink) waitForGo() (int, bool) {
	select {
	case p := <-l.goPort:
		return p, true
	case <-l.gone:
		return 0, false
	}
}

func (l *runnerLink) reportLoad(p *pod, o options) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.tell(p.loadReport(o.instance, o.zone, o.incarnation))
		case <-l.gone:
			return
		}
	}
}

// listenRetrying listens on addr; when the port is in use (a predecessor's socket still closing, as in the
// baseline's rolling restart, which takes over the same port) it retries for up to 10 s.
func listenRetrying(addr string) (net.Listener, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		lis, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return lis, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
