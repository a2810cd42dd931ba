package admin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// stateMachineFeatures are databend-meta's state machine features, in its
// order: flags a leader sets through the raft log (Cmd SetFeature). Both
// are for testing and enable nothing. metasrv's state machine has no
// features: none is ever enabled.
var stateMachineFeatures = []string{"dummy", "dummy_feature2"}

// featuresJSON is databend-meta's answer to /v1/features/list and set:
// every feature, and those enabled.
type featuresJSON struct {
	Features []string `json:"features"`
	Enabled  []string `json:"enabled"`
}

func featuresState() featuresJSON {
	return featuresJSON{Features: stateMachineFeatures, Enabled: []string{}}
}

func (h *handler) featuresList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, featuresState())
}

// featuresSet is /v1/features/set?feature=F&enable=true|false. Disabling a
// feature, which is never enabled here, changes nothing and answers the
// state as databend-meta does; enabling one is refused: metasrv's state
// machine has no features to enable.
func (h *handler) featuresSet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	feature, enableText := q.Get("feature"), q.Get("enable")
	if !q.Has("feature") || !q.Has("enable") {
		writeError(w, http.StatusBadRequest, "bad_request",
			"'feature' and 'enable' query parameters are required: ?feature="+strings.Join(stateMachineFeatures, "|")+"&enable=true|false")
		return
	}
	if !slices.Contains(stateMachineFeatures, feature) {
		writeError(w, http.StatusBadRequest, "bad_request",
			"unknown feature "+strconv.Quote(feature)+": the features are "+strings.Join(stateMachineFeatures, ", "))
		return
	}
	switch enableText {
	case "false":
	case "true":
		writeError(w, http.StatusNotImplemented, "not_implemented",
			"metasrv does not implement state machine features: databend-meta's ("+strings.Join(stateMachineFeatures, ", ")+
				") are for testing and enable nothing; nothing was changed")
		return
	default:
		writeError(w, http.StatusBadRequest, "bad_request",
			"enable must be true or false; got "+strconv.Quote(enableText))
		return
	}
	writeJSON(w, http.StatusOK, featuresState())
}
