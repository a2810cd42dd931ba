package databendapi

import (
	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
)

// watchFilters maps Databend's filter to ours; databend-meta reads a value
// it does not know as ALL (protobuf's default).
var watchFilters = map[databendpb.WatchRequest_FilterType]metapb.WatchRequest_Filter{
	databendpb.WatchRequest_UPDATE: metapb.WatchRequest_UPDATE,
	databendpb.WatchRequest_DELETE: metapb.WatchRequest_DELETE,
}

// Watch serves a watch through the native one (server.Watch), which
// registers the watcher between two applies: the initial flush is the
// state at that point and the changes follow it, none missed or repeated.
//
// The stream sends, in Databend's form: with initial_flush, each key in
// [key, key_end) (key alone without key_end) with is_initialization set,
// then one response with no event; then each change that passes the
// filter, with prev (unset for a new key) and current (unset for a
// deletion). The response headers go out as soon as the watcher is
// registered: Databend's client returns from watch() only once they
// arrive. Our progress markers have no Databend form and are not sent.
func (s *Service) Watch(req *databendpb.WatchRequest, stream grpc.ServerStreamingServer[databendpb.WatchResponse]) error {
	ctx := stream.Context()
	if req.KeyEnd != nil && req.GetKey() >= req.GetKeyEnd() {
		return s.fail(ctx, invalidf("watch range [%q, %q) is empty: key_end must be greater than key; leave key_end unset to watch key alone",
			req.GetKey(), req.GetKeyEnd()))
	}
	native := &metapb.WatchRequest{
		Key:          req.GetKey(),
		KeyEnd:       req.GetKeyEnd(),
		Filter:       watchFilters[req.GetFilterType()],
		InitialFlush: req.GetInitialFlush(),
	}
	headerSent := false
	err := s.srv.Watch(ctx, native, func(r *metapb.WatchResponse) error {
		if !headerSent {
			// The first response follows the registration.
			if err := stream.SendHeader(nil); err != nil {
				return err
			}
			headerSent = true
		}
		switch {
		case r.GetFlushDone():
			return stream.Send(&databendpb.WatchResponse{})
		case r.GetEvent() == nil: // a progress marker
			return nil
		}
		ev := r.GetEvent()
		if !databendKey(ev.GetKey()) {
			return nil
		}
		return stream.Send(&databendpb.WatchResponse{
			Event:            &databendpb.Event{Key: ev.GetKey(), Prev: pbSeqV(ev.GetPrev()), Current: pbSeqV(ev.GetCurrent())},
			IsInitialization: r.GetIsInitialization(),
		})
	})
	return s.fail(ctx, err)
}
