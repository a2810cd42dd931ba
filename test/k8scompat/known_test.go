package k8scompat

import (
	"os"
	"testing"
)

// knownFailures lists, by test name, every test of this module that does
// not pass against metasrv yet, with the reason. Such a test is skipped,
// saying the reason; METASRV_COMPAT_RUN_KNOWN=1 runs them all anyway, to
// see whether a reason still holds.
//
// Not in this module at all, because they test kube-apiserver's own code
// with its unexported types rather than the storage backend:
// TestDeleteWithConflictAndMissingExpectedTransformOrDecodeError,
// TestDeleteWithConflictAndExpectedTransformError and ...DecodeError
// (they swap the store's codec), TestGetListWithErrorAggregation,
// TestGetListWithoutErrorAggregation and TestWatch/WatchWithUnsafeDelete
// (they pass etcd3's unexported corruptObjectError), TestStats (it
// passes the store's unexported getKeys), and the implementation-specific
// tests below "Implementation-specific tests are following" in
// store_test.go and watcher_test.go.
var knownFailures = map[string]string{
	// Leases: metasrv answers etcdserverpb.Lease Unimplemented until the
	// lease part of issue 13 lands.
	"TestCreateWithTTL":                        noLeases + " (Create with a TTL)",
	"TestGet":                                  noLeases + " (its setup updates the object with a TTL of 1s, store_tests.go RunTestGet)",
	"TestGuaranteedUpdateWithTTL":              noLeases + " (GuaranteedUpdate with a TTL)",
	"TestClientv3Examples/Lease_grant":         noLeases,
	"TestClientv3Examples/Lease_revoke":        noLeases,
	"TestClientv3Examples/Lease_keepAlive":     noLeases,
	"TestClientv3Examples/Lease_keepAliveOnce": noLeases,
	"TestConcurrency/Mutex_Lock":               noLeases + " (a concurrency.Session is a lease)",
	"TestConcurrency/Mutex_TryLock":            noLeases + " (a concurrency.Session is a lease)",
	"TestConcurrency/Election_Campaign":        noLeases + " (a concurrency.Session is a lease)",
	"TestConcurrency/Session_TTL":              noLeases + " (a concurrency.Session is a lease)",
	"TestConcurrency/Session_Close":            noLeases + " (a concurrency.Session is a lease)",

	// prev_kv below the compaction: after a compaction at revision C, etcd
	// sends an event at revision C without its prev_kv when the previous
	// version is below C (v3rpc reads it with a Range at mod_revision-1,
	// which is compacted), and the etcd3 store turns that into an error
	// event. metasrv's history keeps the previous value with the change and
	// sends it, so the watch from the too-old resource version gets the
	// Modified event instead of an error.
	"TestWatch/WatchFromZero": "a watch starting at the compacted revision gets its first event with prev_kv; etcd leaves prev_kv out when the previous version was compacted, and the test expects the error the store makes of that (watcher_tests.go RunTestWatchFromZero's tooOldWatcher)",
}

const (
	noLeases = "needs leases: metasrv answers etcdserverpb.Lease Unimplemented until issue 13's lease part lands"
)

// skipKnownFailure skips t, with the reason, if it is a known failure.
func skipKnownFailure(t *testing.T) {
	t.Helper()
	if reason, ok := knownFailures[t.Name()]; ok && os.Getenv("METASRV_COMPAT_RUN_KNOWN") == "" {
		t.Skipf("known failure against metasrv (knownFailures): %s", reason)
	}
}
