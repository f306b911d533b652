package main

// A pod with a capacity, the Go twin of the demo's Node pods (@fairway/testing's createPod, used by
// examples/trading-pipeline/src/pod-load.ts): `slots` quotes in service at once, the rest wait in FIFO order
// (a buffered channel used as a semaphore: Go queues blocked senders in arrival order), each quote's work
// drawn from a log-normal distribution around the mean (a tail, as real services have), divided by a
// capacity factor (a noisy neighbour takes part of the CPU). It only sleeps, so a pod costs almost no CPU.

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

type pod struct {
	slots  int
	meanMs float64
	mu_    float64 // log-normal location: ln(mean) - sigma^2/2, so the mean is meanMs
	sigma  float64
	sem    chan struct{}

	mu          sync.Mutex
	factor      float64
	waiting     int
	maxWaiting  int
	inService   int
	served      int
	busySlotNs  float64 // occupied slot-time in the window
	lastChange  time.Time
	windowStart time.Time
	delaysMs    []float64
}

func newPod(slots int, meanMs, sigma float64) *pod {
	now := time.Now()
	return &pod{
		slots: slots, meanMs: meanMs, sigma: sigma, mu_: math.Log(math.Max(meanMs, 1e-9)) - sigma*sigma/2,
		sem: make(chan struct{}, slots), factor: 1, lastChange: now, windowStart: now,
	}
}

// advance adds the slot-time occupied since the last change; call with mu held.
func (p *pod) advance(now time.Time) {
	p.busySlotNs += float64(p.inService) * float64(now.Sub(p.lastChange))
	p.lastChange = now
}

func (p *pod) setCapacityFactor(f float64) {
	if !(f > 0 && f <= 1) {
		return
	}
	p.mu.Lock()
	p.factor = f
	p.mu.Unlock()
}

func (p *pod) draw() time.Duration {
	if p.meanMs <= 0 {
		return 0
	}
	ms := math.Exp(p.mu_ + p.sigma*rand.NormFloat64())
	return time.Duration(ms * float64(time.Millisecond))
}

// serve waits for a slot (FIFO), holds it for one drawn service time, and frees it; a cancelled call
// leaves the queue or its slot at once.
func (p *pod) serve(ctx context.Context) error {
	enqueued := time.Now()
	p.mu.Lock()
	p.waiting++
	p.maxWaiting = max(p.maxWaiting, p.waiting)
	p.mu.Unlock()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		return ctx.Err()
	}
	start := time.Now()
	p.mu.Lock()
	p.waiting--
	p.advance(start)
	p.inService++
	p.delaysMs = append(p.delaysMs, float64(start.Sub(enqueued))/1e6)
	factor := p.factor
	p.mu.Unlock()
	t := time.NewTimer(time.Duration(float64(p.draw()) / factor))
	var err error
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		err = ctx.Err()
	}
	p.mu.Lock()
	p.advance(time.Now())
	p.inService--
	if err == nil {
		p.served++
	}
	p.mu.Unlock()
	<-p.sem
	return err
}

// loadReport is the runner's `pod-load` message (PodLoadReport in pod-load.ts), for the window since the
// last report; it starts a new window.
func (p *pod) loadReport(instance, zone, incarnation string) map[string]any {
	now := time.Now()
	p.mu.Lock()
	p.advance(now)
	window := now.Sub(p.windowStart)
	util := 0.0
	if window > 0 {
		util = p.busySlotNs / (float64(p.slots) * float64(window))
	}
	delays := p.delaysMs
	r := map[string]any{
		"type": "pod-load", "role": "pricer", "instance": instance, "zone": zone, "incarnation": incarnation,
		"slots": p.slots, "windowMs": round1(float64(window) / 1e6), "served": p.served,
		"utilization": math.Round(math.Min(1, util)*1000) / 1000, "queueLength": p.waiting, "maxQueueLength": p.maxWaiting,
		"inService": p.inService, "capacityFactor": p.factor,
		"capacityPerSec": round1(float64(p.slots) * 1000 / math.Max(p.meanMs, 1e-3) * p.factor),
		// A Go process has no event loop: its timers are not delayed behind other callbacks.
		"eventLoopDelayP99Ms": 0,
		// What the runner needs to tell this process from a Node pod.
		"runtime": "go",
	}
	p.served, p.busySlotNs, p.windowStart, p.delaysMs, p.maxWaiting = 0, 0, now, nil, p.waiting
	p.mu.Unlock()
	mean, p99 := 0.0, 0.0
	if len(delays) > 0 {
		sort.Float64s(delays)
		sum := 0.0
		for _, d := range delays {
			sum += d
		}
		mean = sum / float64(len(delays))
		p99 = delays[min(len(delays)-1, int(math.Ceil(0.99*float64(len(delays))))-1)]
	}
	r["queueDelayMeanMs"] = round1(mean)
	r["queueDelayP99Ms"] = round1(p99)
	return r
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
