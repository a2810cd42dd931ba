package databendapi

import "fmt"

// Version is a Databend version, major.minor.patch (Databend numbers its
// releases by date since 2026: 260629.0.0). On the wire (Handshake's
// protocol_version) it is one number, Digit: major*1_000_000 +
// minor*1_000 + patch; minor and patch stay below 1000.
type Version struct {
	Major, Minor, Patch uint64
}

// Digit encodes v for protocol_version.
func (v Version) Digit() uint64 {
	return v.Major*1_000_000 + v.Minor*1_000 + v.Patch
}

// VersionFromDigit decodes a protocol_version.
func VersionFromDigit(d uint64) Version {
	return Version{Major: d / 1_000_000, Minor: d / 1_000 % 1_000, Patch: d % 1_000}
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// The versions of the handshake, from Databend's
// external-meta-min-compatibles.txt (a copy is in
// ../shared/fixtures/databend/), its record of each databend-meta release
// with the oldest client it serves (MIN_CLIENT) and the oldest server its
// own client accepts (MIN_SERVER). The newest row:
//
//	260629.0.0      1.2.676                260217.0.0
var (
	// ServerVersion is what Handshake answers: 260629.2.0, the version
	// issue 12 names, at or above the newest release of the file (a test
	// checks). A Databend client refuses a server older than its
	// MIN_SERVER, which is at most 260217.0.0 in every row, so every
	// current client accepts it; answering as the newest release also
	// tells a client that every RPC it knows of is served. It is not
	// metasrv's own version (Status, the admin API).
	ServerVersion = Version{260629, 2, 0}
	// MinClientVersion is the oldest client Handshake accepts: MIN_CLIENT,
	// 1.2.676 in every row.
	MinClientVersion = Version{1, 2, 676}
)

// checkClientVersion refuses a client older than MinClientVersion, naming
// both versions, with databend-meta's words. 0 is a client too old to send
// its version: databend-meta lets it in, and so do we.
func checkClientVersion(protocolVersion uint64) error {
	if protocolVersion == 0 || protocolVersion >= MinClientVersion.Digit() {
		return nil
	}
	v := VersionFromDigit(protocolVersion)
	return invalidf("meta-client protocol_version(%s) < metasrv min-compatible(%s): upgrade the Databend client (databend-query, databend-metactl) to %s or later",
		v, MinClientVersion, MinClientVersion)
}
