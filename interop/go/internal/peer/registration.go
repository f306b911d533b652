package peer

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
)

// Registration is one endpoint registered the way a Go team does with etcd's naming package: key
// "<service>/<instance>" bound to a lease that is kept alive, value written by endpoints.Manager.
type Registration struct {
	client  *clientv3.Client
	manager endpoints.Manager
	key     string
	lease   clientv3.LeaseID
	cancel  context.CancelFunc
}

// Register adds addr under service/instance with metadata (nil for a plain registration) and a lease of ttl
// seconds, kept alive until Close.
func Register(client *clientv3.Client, service, instance, addr string, metadata any, ttl int64) (*Registration, error) {
	manager, err := endpoints.NewManager(client, service)
	if err != nil {
		return nil, fmt.Errorf("endpoints manager for %q: %w", service, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	grant, err := client.Grant(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("lease grant: %w", err)
	}
	key := service + "/" + instance
	if err := manager.AddEndpoint(ctx, key, endpoints.Endpoint{Addr: addr, Metadata: metadata}, clientv3.WithLease(grant.ID)); err != nil {
		return nil, fmt.Errorf("add endpoint %s: %w", key, err)
	}
	keepCtx, keepCancel := context.WithCancel(context.Background())
	alive, err := client.KeepAlive(keepCtx, grant.ID)
	if err != nil {
		keepCancel()
		return nil, fmt.Errorf("lease keep-alive: %w", err)
	}
	go func() {
		for range alive { // drain the keep-alive answers
		}
	}()
	return &Registration{client: client, manager: manager, key: key, lease: grant.ID, cancel: keepCancel}, nil
}

// Key is the etcd key of this registration.
func (r *Registration) Key() string { return r.key }

// Close deletes the key and revokes the lease (what a Go service does on SIGTERM before it stops serving).
func (r *Registration) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = r.manager.DeleteEndpoint(ctx, r.key)
	r.cancel()
	_, _ = r.client.Revoke(ctx, r.lease)
}
