// Package peer holds what the Go peers share: the gRPC service descriptors of the repository's protos (written
// by hand, so only protoc-gen-go is needed), etcd registration the way a Go team writes it, and tracing set-up.
package peer

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fairway/fairway/interop/go/gen/echopb"
	"github.com/fairway/fairway/interop/go/gen/tradingpb"
)

// EchoHandler is the server side of fairway.test.Echo (proto/fairway/test/echo.proto).
type EchoHandler interface {
	Unary(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoReply, error)
	ServerStream(req *echopb.EchoRequest, stream grpc.ServerStreamingServer[echopb.EchoReply]) error
	ClientStream(stream grpc.ClientStreamingServer[echopb.EchoRequest, echopb.EchoReply]) error
	Bidi(stream grpc.BidiStreamingServer[echopb.EchoRequest, echopb.EchoReply]) error
}

// EchoServiceDesc describes fairway.test.Echo for grpc.Server.RegisterService.
var EchoServiceDesc = grpc.ServiceDesc{
	ServiceName: "fairway.test.Echo",
	HandlerType: (*EchoHandler)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(echopb.EchoRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, req any) (any, error) {
				return srv.(EchoHandler).Unary(ctx, req.(*echopb.EchoRequest))
			}
			if interceptor == nil {
				return call(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/fairway.test.Echo/Unary"}, call)
		},
	}},
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "ServerStream",
			ServerStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				in := new(echopb.EchoRequest)
				if err := stream.RecvMsg(in); err != nil {
					return err
				}
				return srv.(EchoHandler).ServerStream(in, &grpc.GenericServerStream[echopb.EchoRequest, echopb.EchoReply]{ServerStream: stream})
			},
		},
		{
			StreamName:    "ClientStream",
			ClientStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				return srv.(EchoHandler).ClientStream(&grpc.GenericServerStream[echopb.EchoRequest, echopb.EchoReply]{ServerStream: stream})
			},
		},
		{
			StreamName:    "Bidi",
			ServerStreams: true,
			ClientStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				return srv.(EchoHandler).Bidi(&grpc.GenericServerStream[echopb.EchoRequest, echopb.EchoReply]{ServerStream: stream})
			},
		},
	},
	Metadata: "fairway/test/echo.proto",
}

// PricerHandler is the server side of trading.v1.Pricer (examples/trading-pipeline/proto/trading/v1/trading.proto).
type PricerHandler interface {
	Quote(ctx context.Context, req *tradingpb.QuoteRequest) (*tradingpb.QuoteReply, error)
}

// PricerServiceDesc describes trading.v1.Pricer.
var PricerServiceDesc = grpc.ServiceDesc{
	ServiceName: "trading.v1.Pricer",
	HandlerType: (*PricerHandler)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Quote",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(tradingpb.QuoteRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, req any) (any, error) {
				return srv.(PricerHandler).Quote(ctx, req.(*tradingpb.QuoteRequest))
			}
			if interceptor == nil {
				return call(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/trading.v1.Pricer/Quote"}, call)
		},
	}},
	Metadata: "trading/v1/trading.proto",
}

// SilentHandler is the server side of fairway.interop.Silent, the method the keepalive tests hold open: the
// request (a google.protobuf.StringValue "<seconds>" or "<seconds>/<every>") names how long to stay silent,
// or to send "tick" every <every> seconds; then one reply "ok".
// The C-core (Python) and grpc-java test servers serve the same method with the same encoding.
type SilentHandler interface {
	Wait(req *wrapperspb.StringValue, stream grpc.ServerStreamingServer[wrapperspb.StringValue]) error
}

// SilentServiceDesc describes fairway.interop.Silent.
var SilentServiceDesc = grpc.ServiceDesc{
	ServiceName: "fairway.interop.Silent",
	HandlerType: (*SilentHandler)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Wait",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			in := new(wrapperspb.StringValue)
			if err := stream.RecvMsg(in); err != nil {
				return err
			}
			return srv.(SilentHandler).Wait(in, &grpc.GenericServerStream[wrapperspb.StringValue, wrapperspb.StringValue]{ServerStream: stream})
		},
	}},
}

// Client-side method names.
const (
	EchoUnaryMethod      = "/fairway.test.Echo/Unary"
	PricerQuoteMethod    = "/trading.v1.Pricer/Quote"
	PublisherPublishName = "/trading.v1.Publisher/Publish"
	FeedSubscribeMethod  = "/trading.v1.PriceFeed/Subscribe"
)

// FeedSubscribeDesc is the stream description for trading.v1.PriceFeed/Subscribe (a server stream).
var FeedSubscribeDesc = grpc.StreamDesc{StreamName: "Subscribe", ServerStreams: true}
