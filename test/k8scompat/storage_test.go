package k8scompat

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
	"k8s.io/utils/clock"
)

// The store is built as k8s.io/apiserver's pkg/storage/etcd3/store_test.go
// builds it (testSetup, withDefaults), on a clientv3 client of a metasrv
// cluster instead of an embedded etcd (its testserver.RunEtcd).

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

// storedPrefix is what the test transformer puts before every stored
// value (store_test.go's defaultTestPrefix).
const storedPrefix = "test!"

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
}

// k8sStore is etcd3's store with what the tests need beside it.
type k8sStore struct {
	storage.Interface
	// compactRevision is the store's CompactRevision (its type is
	// unexported).
	compactRevision func() int64
	client          *kubernetes.Client
	kv              *storagetesting.KVRecorder
	codec           runtime.Codec
	transformer     *swappableTransformer
}

// newStore starts a metasrv cluster and builds on it the store that
// kube-apiserver builds on etcd: the client of
// go.etcd.io/etcd/client/v3/kubernetes with the tests' recorders, a
// compactor that does not compact by itself, the example Pod codec, a
// prefix transformer, pods under "/pods/".
func newStore(t *testing.T) (context.Context, *k8sStore) {
	t.Helper()
	skipKnownFailure(t)
	c := newCluster(t)
	client := c.kubernetesClient(t)
	recorder := storagetesting.NewKubernetesRecorder(client.Kubernetes)
	kv := storagetesting.NewKVRecorder(client.KV, recorder)
	client.KV = kv
	client.Kubernetes = recorder

	codec := apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)
	transformer := newSwappableTransformer(storagetesting.NewPrefixTransformer([]byte(storedPrefix), false))
	leaseConfig := etcd3.NewDefaultLeaseManagerConfig()
	leaseConfig.ReuseDurationSeconds = 1 // store_test.go's newTestLeaseManagerConfig
	versioner := storage.APIObjectVersioner{}
	compactor := etcd3.NewCompactor(client.Client, 0, clock.RealClock{}, nil)
	t.Cleanup(compactor.Stop)
	s, err := etcd3.New(client, compactor, codec,
		func() runtime.Object { return &example.Pod{} },
		func() runtime.Object { return &example.PodList{} },
		"", "/pods/", schema.GroupResource{Resource: "pods"},
		transformer, leaseConfig, etcd3.NewDefaultDecoder(codec, versioner), versioner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return context.Background(), &k8sStore{
		Interface: s, compactRevision: s.CompactRevision,
		client: client, kv: kv, codec: codec, transformer: transformer,
	}
}

// swappableTransformer is the store's transformer, which a test may
// replace for a while (storagetesting.InterfaceWithPrefixTransformer):
// store_test.go's storeWithPrefixTransformer sets the store's unexported
// field instead.
type swappableTransformer struct {
	base *storagetesting.PrefixTransformer
	mu   sync.RWMutex
	cur  value.Transformer
}

func newSwappableTransformer(base *storagetesting.PrefixTransformer) *swappableTransformer {
	return &swappableTransformer{base: base, cur: base}
}

func (s *swappableTransformer) current() value.Transformer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

func (s *swappableTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	return s.current().TransformFromStorage(ctx, data, dataCtx)
}

func (s *swappableTransformer) TransformToStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, error) {
	return s.current().TransformToStorage(ctx, data, dataCtx)
}

// UpdatePrefixTransformer makes the store use modifier's transformer,
// made from a copy of the prefix transformer, until the returned func.
func (s *k8sStore) UpdatePrefixTransformer(modifier storagetesting.PrefixTransformerModifier) func() {
	copied := *s.transformer.base
	s.transformer.mu.Lock()
	s.transformer.cur = modifier(&copied)
	s.transformer.mu.Unlock()
	return func() {
		s.transformer.mu.Lock()
		s.transformer.cur = s.transformer.base
		s.transformer.mu.Unlock()
	}
}

// checkStorageInvariants is the KeyValidation of store_test.go: the
// stored object decodes, without a resource version or a selfLink.
func (s *k8sStore) checkStorageInvariants() storagetesting.KeyValidation {
	return func(ctx context.Context, t *testing.T, key string) {
		resp, err := s.client.KV.Get(ctx, key)
		if err != nil {
			t.Fatalf("etcdClient.KV.Get failed: %v", err)
		}
		if len(resp.Kvs) == 0 {
			t.Fatalf("expecting non empty result on key: %s", key)
		}
		decoded, err := runtime.Decode(s.codec, resp.Kvs[0].Value[len(storedPrefix):])
		if err != nil {
			t.Fatalf("expecting successful decode of object from %v\n%v", err, string(resp.Kvs[0].Value))
		}
		obj := decoded.(*example.Pod)
		if obj.ResourceVersion != "" {
			t.Errorf("stored object should have empty resource version")
		}
		if obj.SelfLink != "" {
			t.Errorf("stored output should have empty selfLink")
		}
	}
}

// maxLimit is etcd3's largest page (store.go's maxLimit).
const maxLimit = 10000

// checkStorageCallsInvariants is the CallsValidation of store_test.go:
// the objects read and the Range calls made, the page size doubling
// from pageSize up to maxLimit.
func (s *k8sStore) checkStorageCallsInvariants() storagetesting.CallsValidation {
	return func(t *testing.T, pageSize, estimatedProcessedObjects uint64) {
		if reads := s.transformer.base.GetReadsAndReset(); reads != estimatedProcessedObjects {
			t.Errorf("unexpected reads: %d, expected: %d", reads, estimatedProcessedObjects)
		}
		estimatedGetCalls := uint64(1)
		if pageSize != 0 {
			currLimit := pageSize
			for sum := uint64(1); sum < estimatedProcessedObjects; {
				currLimit = min(currLimit*2, maxLimit)
				sum += currLimit
				estimatedGetCalls++
			}
		}
		if reads := s.kv.GetReadsAndReset() + s.kv.GetStreamReadsAndReset(); reads != estimatedGetCalls {
			t.Fatalf("unexpected reads: %d, want: %d", reads, estimatedGetCalls)
		}
	}
}

// compaction compacts through etcd3.Compact, as the apiserver's
// compactor does, and waits until the store has seen it where
// ListFromCacheSnapshot makes it watch the compaction (store_test.go's
// compactStorage).
func (s *k8sStore) compaction() storagetesting.Compaction {
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		rv, err := storage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		var current int64
		current, _, _, err = etcd3.Compact(ctx, s.client.Client, current, int64(rv))
		if err != nil {
			_, _, _, err = etcd3.Compact(ctx, s.client.Client, current, int64(rv))
		}
		if err != nil {
			t.Fatal(err)
		}
		if utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) {
			waitCompactRevision(ctx, t, s.compactRevision, int64(rv))
		}
	}
}

// increaseRV writes a key outside the store's prefix and returns the
// revision it made (store_test.go's increaseRVFunc).
func (s *k8sStore) increaseRV(client *clientv3.Client) storagetesting.IncreaseRVFunc {
	return func(ctx context.Context, t *testing.T) int64 {
		resp, err := client.KV.Put(ctx, "increaseRV", "ok")
		if err != nil {
			t.Fatalf("Could not update increaseRV: %v", err)
		}
		return resp.Header.Revision
	}
}

// setRangeStream sets the EtcdRangeStream gate for t and makes the
// store ask the server again which features it has.
func setRangeStream(t *testing.T, on bool) {
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.EtcdRangeStream, on)
	orig := etcdfeature.DefaultFeatureSupportChecker
	etcdfeature.DefaultFeatureSupportChecker = etcdfeature.NewDefaultFeatureSupportChecker()
	t.Cleanup(func() { etcdfeature.DefaultFeatureSupportChecker = orig })
}

// waitCompactRevision waits until compactRevision returns rev.
func waitCompactRevision(ctx context.Context, t *testing.T, compactRevision func() int64, rev int64) {
	t.Helper()
	for compactRevision() != rev {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
