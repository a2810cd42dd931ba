package grpcapi

// A request that does not decode: InvalidArgument, not Internal.
//
// gRPC decodes a request before any interceptor runs, and when the codec
// fails it answers codes.Internal ("grpc: failed to unmarshal the received
// message") itself: serverStream.RecvMsg writes that status before it
// returns, so nothing later can change the code. Yet a request whose
// bytes are not the request message is the caller's mistake (metapb's
// string fields hold any bytes: a key that is not UTF-8 decodes). Two pieces answer it
// with codes.InvalidArgument:
//
//   - DecodeErrorsOption makes the server's codec decodeCodec, gRPC's proto
//     codec except that, asked to decode into a *decodeTarget, it records
//     the failure in the target and reports success to gRPC.
//   - RegisterMeta registers the Meta service with handlers that decode
//     every request into a *decodeTarget wrapping the request message, and
//     fail the call with InvalidArgument when the target holds an error,
//     before the handler sees the (partly decoded) message.
//
// Each piece alone changes nothing: a decodeTarget embeds its message, so
// gRPC's own codec decodes into it as into the message, failing as before;
// decodeCodec decodes anything else as gRPC's codec does.

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// DecodeErrorsOption returns the server option that lets RegisterMeta
// answer a request that does not decode with codes.InvalidArgument (see
// the top of this file). Give it to the public server's grpc.NewServer.
func DecodeErrorsOption() grpc.ServerOption {
	return grpc.ForceServerCodecV2(decodeCodec{encoding.GetCodecV2(protoenc.Name)})
}

// RegisterMeta registers m as the Meta service of s, as
// metapb.RegisterMetaServer does; on a server made with DecodeErrorsOption,
// a request that does not decode is answered with codes.InvalidArgument
// naming the request type, and no handler runs.
func RegisterMeta(s grpc.ServiceRegistrar, m metapb.MetaServer) {
	RegisterDecoded(s, &metapb.Meta_ServiceDesc, m)
}

// RegisterDecoded registers impl as the service desc describes, as the
// generated Register functions do, with RegisterMeta's answer to a request
// that does not decode. Every public face registers through it.
func RegisterDecoded(s grpc.ServiceRegistrar, desc *grpc.ServiceDesc, impl any) {
	s.RegisterService(decodeIntoTargets(desc), impl)
}

// decodeTarget is what the handlers of RegisterMeta ask gRPC to decode a
// request into. It embeds the request message, so that any codec decodes
// into it as into the message; decodeCodec sets err instead of failing.
type decodeTarget struct {
	proto.Message
	err error
}

// decodeCodec is gRPC's proto codec, except for a *decodeTarget (see the
// top of this file).
type decodeCodec struct{ encoding.CodecV2 }

func (c decodeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	t, ok := v.(*decodeTarget)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	if err := c.CodecV2.Unmarshal(data, t.Message); err != nil {
		t.err = err
	}
	return nil
}

// decodeIntoTargets returns a copy of desc whose handlers decode each
// request through decodeInto.
func decodeIntoTargets(desc *grpc.ServiceDesc) *grpc.ServiceDesc {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, md := range desc.Methods {
		h := md.Handler
		md.Handler = func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			return h(srv, ctx, func(m any) error { return decodeInto(m, dec) }, in)
		}
		d.Methods[i] = md
	}
	d.Streams = make([]grpc.StreamDesc, len(desc.Streams))
	for i, sd := range desc.Streams {
		h := sd.Handler
		sd.Handler = func(srv any, ss grpc.ServerStream) error {
			return h(srv, decodeStream{ss})
		}
		d.Streams[i] = sd
	}
	return &d
}

// decodeStream is a server stream whose RecvMsg decodes through
// decodeInto.
type decodeStream struct{ grpc.ServerStream }

func (s decodeStream) RecvMsg(m any) error {
	return decodeInto(m, s.ServerStream.RecvMsg)
}

// decodeInto decodes a request into m with recv, through a decodeTarget:
// a failure that decodeCodec recorded is codes.InvalidArgument.
func decodeInto(m any, recv func(any) error) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return recv(m)
	}
	t := &decodeTarget{Message: pm}
	if err := recv(t); err != nil {
		return err
	}
	if t.err != nil {
		name := pm.ProtoReflect().Descriptor().FullName()
		return status.Error(codes.InvalidArgument, fmt.Sprintf(
			"malformed %s: %v; send a serialized %s",
			name, t.err, name))
	}
	return nil
}
