package etcdapi

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// served lists the methods this step of issue 13 serves, by full name;
// every other method of etcd's services answers Unimplemented.
var served = map[string]bool{
	"/etcdserverpb.KV/Range":               true,
	"/etcdserverpb.KV/RangeStream":         true,
	"/etcdserverpb.KV/Put":                 true,
	"/etcdserverpb.KV/DeleteRange":         true,
	"/etcdserverpb.KV/Txn":                 true,
	"/etcdserverpb.KV/Compact":             true,
	"/etcdserverpb.Watch/Watch":            true,
	"/etcdserverpb.Lease/LeaseGrant":       true,
	"/etcdserverpb.Lease/LeaseRevoke":      true,
	"/etcdserverpb.Lease/LeaseKeepAlive":   true,
	"/etcdserverpb.Lease/LeaseTimeToLive":  true,
	"/etcdserverpb.Lease/LeaseLeases":      true,
	"/etcdserverpb.Cluster/MemberList":     true,
	"/etcdserverpb.Cluster/MemberAdd":      true,
	"/etcdserverpb.Cluster/MemberRemove":   true,
	"/etcdserverpb.Cluster/MemberUpdate":   true,
	"/etcdserverpb.Cluster/MemberPromote":  true,
	"/etcdserverpb.Maintenance/Status":     true,
	"/etcdserverpb.Maintenance/Alarm":      true,
	"/etcdserverpb.Maintenance/Defragment": true,
	"/etcdserverpb.Maintenance/Hash":       true,
	"/etcdserverpb.Maintenance/HashKV":     true,
	"/etcdserverpb.Maintenance/MoveLeader": true,
	"/etcdserverpb.Maintenance/Snapshot":   true,
	"/etcdserverpb.Auth/Authenticate":      true,
	"/etcdserverpb.Auth/AuthStatus":        true,
}

// notServedMessage says why a method is not served and what to do.
func notServedMessage(service, method string) string {
	switch service {
	case "Auth":
		return fmt.Sprintf("etcdserverpb.Auth/%s is not served by metasrv: %s; Authenticate and AuthStatus are served", method, usersHint)
	case "Maintenance":
		return fmt.Sprintf("etcdserverpb.Maintenance/%s is not served by metasrv: its nodes do not change versions in place; replace the binary and restart each node in turn", method)
	}
	return fmt.Sprintf("etcdserverpb.%s/%s is not served by metasrv; its README lists the etcd methods it serves", service, method)
}

// notServed returns a copy of desc whose methods not in served answer
// codes.Unimplemented with notServedMessage, without calling the
// implementation.
func notServed(desc *grpc.ServiceDesc, service string) *grpc.ServiceDesc {
	d := *desc
	d.Methods = append([]grpc.MethodDesc(nil), desc.Methods...)
	for i, m := range d.Methods {
		if served["/"+desc.ServiceName+"/"+m.MethodName] {
			continue
		}
		err := status.Error(codes.Unimplemented, notServedMessage(service, m.MethodName))
		info := &grpc.UnaryServerInfo{FullMethod: "/" + desc.ServiceName + "/" + m.MethodName}
		refuse := func(context.Context, any) (any, error) { return nil, err }
		d.Methods[i].Handler = func(srv any, ctx context.Context, _ func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			if in == nil {
				return nil, err
			}
			// The interceptors (metrics, authentication) see the call as
			// any other; the request is not decoded.
			return in(ctx, nil, &grpc.UnaryServerInfo{Server: srv, FullMethod: info.FullMethod}, refuse)
		}
	}
	d.Streams = append([]grpc.StreamDesc(nil), desc.Streams...)
	for i, st := range d.Streams {
		if served["/"+desc.ServiceName+"/"+st.StreamName] {
			continue
		}
		err := status.Error(codes.Unimplemented, notServedMessage(service, st.StreamName))
		d.Streams[i].Handler = func(any, grpc.ServerStream) error { return err }
	}
	return &d
}
