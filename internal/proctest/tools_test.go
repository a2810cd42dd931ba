package proctest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestMissingTool checks that a missing tool skips the test, or fails it
// when the tools are required.
func TestMissingTool(t *testing.T) {
	for _, tt := range []struct {
		env                 string
		wantSkip, wantFatal bool
	}{
		{"", true, false},
		{"optional", true, false},
		{TestDepsRequired, false, true},
	} {
		t.Run("env="+tt.env, func(t *testing.T) {
			t.Setenv(TestDepsEnv, tt.env)
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() { // Skipf and Fatalf end the goroutine
				defer close(done)
				MissingTool(rec, "frob not found: install it")
			}()
			<-done
			if rec.skipped != tt.wantSkip || rec.failed != tt.wantFatal {
				t.Errorf("skipped %v, failed %v; want %v, %v", rec.skipped, rec.failed, tt.wantSkip, tt.wantFatal)
			}
			if !strings.Contains(rec.msg, "frob not found: install it") || !strings.Contains(rec.msg, TestDepsEnv) {
				t.Errorf("message %q does not say why and name %s", rec.msg, TestDepsEnv)
			}
		})
	}
}

// recorder records Skipf and Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
