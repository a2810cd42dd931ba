package k8scompat

import (
	"fmt"
	"testing"

	"k8s.io/apiserver/pkg/features"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

// Kubernetes' storage tests, each called as k8s.io/apiserver's
// pkg/storage/etcd3/store_test.go and watcher_test.go call it, in their
// order, under the same names. Those that pass an etcd3-internal type
// (corruptObjectError) and the implementation-specific tests that read
// the store's unexported fields are not here: see knownFailures.

func TestCreate(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestCreate(ctx, t, s, s.checkStorageInvariants())
}

func TestCreateWithTTL(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestCreateWithTTL(ctx, t, s)
}

func TestCreateWithKeyExist(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestCreateWithKeyExist(ctx, t, s)
}

func TestGet(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGet(ctx, t, s)
}

func TestUnconditionalDelete(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestUnconditionalDelete(ctx, t, s)
}

func TestConditionalDelete(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestConditionalDelete(ctx, t, s)
}

func TestDeleteWithSuggestion(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestDeleteWithSuggestion(ctx, t, s)
}

func TestDeleteWithSuggestionAndConflict(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestDeleteWithSuggestionAndConflict(ctx, t, s)
}

func TestDeleteWithSuggestionOfDeletedObject(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestDeleteWithSuggestionOfDeletedObject(ctx, t, s)
}

func TestValidateDeletionWithSuggestion(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestValidateDeletionWithSuggestion(ctx, t, s)
}

func TestValidateDeletionWithOnlySuggestionValid(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestValidateDeletionWithOnlySuggestionValid(ctx, t, s)
}

func TestDeleteWithConflict(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestDeleteWithConflict(ctx, t, s)
}

func TestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeFailure(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestDeleteWithSuggestionAndMissingExpectedTransformOrDecodeError(ctx, t, s)
}

func TestPreconditionalDeleteWithSuggestion(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestPreconditionalDeleteWithSuggestion(ctx, t, s)
}

func TestPreconditionalDeleteWithSuggestionPass(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestPreconditionalDeleteWithOnlySuggestionPass(ctx, t, s)
}

func TestListPaging(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestListPaging(ctx, t, s)
}

func TestGetListNonRecursive(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGetListNonRecursive(ctx, t, s.increaseRV(s.client.Client), s)
}

func TestGetListRecursivePrefix(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGetListRecursivePrefix(ctx, t, s)
}

func TestKeySchema(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestKeySchema(ctx, t, s)
}

func TestGuaranteedUpdate(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGuaranteedUpdate(ctx, t, s, s.checkStorageInvariants())
}

func TestGuaranteedUpdateWithTTL(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGuaranteedUpdateWithTTL(ctx, t, s)
}

func TestGuaranteedUpdateChecksStoredData(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGuaranteedUpdateChecksStoredData(ctx, t, s)
}

func TestGuaranteedUpdateWithConflict(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGuaranteedUpdateWithConflict(ctx, t, s)
}

func TestGuaranteedUpdateWithSuggestionAndConflict(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestGuaranteedUpdateWithSuggestionAndConflict(ctx, t, s)
}

func TestTransformationFailure(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestTransformationFailure(ctx, t, s)
}

func TestList(t *testing.T) {
	for _, rangeStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("rangeStream=%v", rangeStream), func(t *testing.T) {
			setRangeStream(t, rangeStream)
			ctx, s := newStore(t)
			storagetesting.RunTestList(ctx, t, s, s.compaction(), false, s.client.Kubernetes.(*storagetesting.KubernetesRecorder))
			streamReads := s.kv.GetStreamReadsAndReset()
			if rangeStream && streamReads == 0 {
				t.Error("expected lists to be served by RangeStream")
			}
			if !rangeStream && streamReads > 0 {
				t.Errorf("expected no RangeStream requests with the feature disabled, got %d", streamReads)
			}
		})
	}
}

func TestConsistentList(t *testing.T) {
	for _, rangeStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("rangeStream=%v", rangeStream), func(t *testing.T) {
			setRangeStream(t, rangeStream)
			ctx, s := newStore(t)
			storagetesting.RunTestConsistentList(ctx, t, s, s.increaseRV(s.client.Client), false, true, false)
		})
	}
}

func TestCompactRevision(t *testing.T) {
	// The store observes the compaction through a watch on the compact
	// key, which ListFromCacheSnapshot enables.
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ListFromCacheSnapshot, true)
	ctx, s := newStore(t)
	storagetesting.RunTestCompactRevision(ctx, t, s, s.increaseRV(s.client.Client), s.compaction())
}

func TestListContinuation(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestListContinuation(ctx, t, s, s.checkStorageCallsInvariants())
}

func TestListPaginationRareObject(t *testing.T) {
	// ListFromCacheSnapshot adds a Get of the compact key, which the
	// call count does not expect.
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ListFromCacheSnapshot, false)
	ctx, s := newStore(t)
	storagetesting.RunTestListPaginationRareObject(ctx, t, s, s.checkStorageCallsInvariants())
}

func TestListContinuationWithFilter(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestListContinuationWithFilter(ctx, t, s, s.checkStorageCallsInvariants())
}

func TestNamespaceScopedList(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestNamespaceScopedList(ctx, t, s)
}

func TestListInconsistentContinuation(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestListInconsistentContinuation(ctx, t, s, s.compaction())
}

func TestListResourceVersionMatch(t *testing.T) {
	ctx, s := newStore(t)
	storagetesting.RunTestListResourceVersionMatch(ctx, t, s)
}

// watcher_test.go's TestWatch.
func TestWatch(t *testing.T) {
	t.Run("Watch", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatch(ctx, t, s)
	})
	t.Run("ClusterScopedWatch", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestClusterScopedWatch(ctx, t, s)
	})
	t.Run("NamespaceScopedWatch", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestNamespaceScopedWatch(ctx, t, s)
	})
	t.Run("DeleteTriggerWatch", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestDeleteTriggerWatch(ctx, t, s)
	})
	t.Run("WatchFromZero", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatchFromZero(ctx, t, s, s.compaction())
	})
	t.Run("WatchFromNonZero", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatchFromNonZero(ctx, t, s)
	})
	t.Run("DelayedWatchDelivery", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestDelayedWatchDelivery(ctx, t, s)
	})
	t.Run("WatchError", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatchError(ctx, t, s)
	})
	t.Run("WatchContextCancel", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatchContextCancel(ctx, t, s)
	})
	t.Run("WatcherTimeout", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatcherTimeout(ctx, t, s)
	})
	t.Run("WatchDeleteEventObjectHaveLatestRV", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatchDeleteEventObjectHaveLatestRV(ctx, t, s)
	})
	t.Run("WatchInitializationSignal", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatchInitializationSignal(ctx, t, s)
	})
	t.Run("ProgressNotify", func(t *testing.T) {
		// etcd runs this with WatchProgressNotifyInterval = 1s; the
		// cluster's watch_progress_notify_interval is 1000 ms
		// (newCluster).
		ctx, s := newStore(t)
		storagetesting.RunOptionalTestProgressNotify(ctx, t, s, s.increaseRV(s.client.Client))
	})
	t.Run("WatchDispatchBookmarkEvents", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunTestWatchDispatchBookmarkEvents(ctx, t, s, false)
	})
	t.Run("SendInitialEventsBackwardCompatibility", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunSendInitialEventsBackwardCompatibility(ctx, t, s)
	})
	for _, rangeStream := range []bool{false, true} {
		t.Run(fmt.Sprintf("RangeStream=%v", rangeStream), func(t *testing.T) {
			featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.EtcdRangeStream, rangeStream)
			t.Run("WatchSemantics", func(t *testing.T) {
				ctx, s := newStore(t)
				storagetesting.RunWatchSemantics(ctx, t, s)
			})
			t.Run("WatchSemanticsWithConcurrentDecode", func(t *testing.T) {
				featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ConcurrentWatchObjectDecode, true)
				ctx, s := newStore(t)
				storagetesting.RunWatchSemantics(ctx, t, s)
			})
			t.Run("WatchSemanticInitialEventsExtended", func(t *testing.T) {
				ctx, s := newStore(t)
				storagetesting.RunWatchSemanticInitialEventsExtended(ctx, t, s)
			})
			t.Run("WatchListMatchSingle", func(t *testing.T) {
				ctx, s := newStore(t)
				storagetesting.RunWatchListMatchSingle(ctx, t, s)
			})
		})
	}
	t.Run("WatchErrorEventIsBlockingFurtherEvent", func(t *testing.T) {
		ctx, s := newStore(t)
		storagetesting.RunWatchErrorIsBlockingFurtherEvents(ctx, t, s)
	})
}
