package databendapi

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestVersionDigits(t *testing.T) {
	for _, tt := range []struct {
		v     Version
		digit uint64
	}{
		{Version{0, 0, 0}, 0},
		{Version{1, 2, 676}, 1_002_676},
		{Version{260217, 0, 0}, 260_217_000_000},
		{Version{260629, 2, 0}, 260_629_002_000},
		{Version{260629, 999, 999}, 260_629_999_999},
	} {
		if got := tt.v.Digit(); got != tt.digit {
			t.Errorf("%s.Digit() = %d, want %d", tt.v, got, tt.digit)
		}
		if got := VersionFromDigit(tt.digit); got != tt.v {
			t.Errorf("VersionFromDigit(%d) = %s, want %s", tt.digit, got, tt.v)
		}
	}
	if ServerVersion.Digit() != 260_629_002_000 {
		t.Errorf("ServerVersion %s = %d", ServerVersion, ServerVersion.Digit())
	}
}

func TestCheckClientVersion(t *testing.T) {
	for _, v := range []uint64{0, MinClientVersion.Digit(), ServerVersion.Digit()} {
		if err := checkClientVersion(v); err != nil {
			t.Errorf("client %d refused: %v", v, err)
		}
	}
	err := toStatus(checkClientVersion(Version{1, 2, 675}.Digit()))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "meta-client protocol_version(1.2.675) < metasrv min-compatible(1.2.676)") {
		t.Fatalf("client 1.2.675: %v, want InvalidArgument naming both versions", err)
	}
}

// The versions agree with the newest row of Databend's table, when the
// shared fixtures are there (they are outside the repository).
func TestVersionsMatchDatabendTable(t *testing.T) {
	f, err := os.Open("../../../shared/fixtures/databend/external-meta-min-compatibles.txt")
	if err != nil {
		t.Skipf("Databend's table is not here: %v", err)
	}
	defer f.Close()
	var last []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[0][0] >= '0' && fields[0][0] <= '9' {
			last = fields
			if fields[1] != MinClientVersion.String() {
				t.Errorf("release %s serves clients from %s, MinClientVersion is %s", fields[0], fields[1], MinClientVersion)
			}
			if min := parse(t, fields[2]); min.Digit() > ServerVersion.Digit() {
				t.Errorf("release %s's client needs a server of %s, ServerVersion is %s", fields[0], min, ServerVersion)
			}
		}
	}
	if last == nil {
		t.Fatal("no rows")
	}
	if newest := parse(t, last[0]); newest.Digit() > ServerVersion.Digit() {
		t.Errorf("the newest release is %s, ServerVersion %s is older", newest, ServerVersion)
	}
}

func parse(t *testing.T, s string) Version {
	t.Helper()
	var v Version
	if _, err := fmt.Sscanf(s, "%d.%d.%d", &v.Major, &v.Minor, &v.Patch); err != nil {
		t.Fatalf("version %q: %v", s, err)
	}
	return v
}
