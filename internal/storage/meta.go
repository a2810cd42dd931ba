package storage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
)

// metadata is recorded as JSON at the head of every WAL file.
type metadata struct {
	ID          uint64 `json:"id"`
	ClusterName string `json:"cluster_name"`
}

func encodeMetadata(m metadata) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// A struct of a uint64 and a string always encodes.
		panic(fmt.Sprintf("storage: encode WAL metadata: %v", err))
	}
	return b
}

func decodeMetadata(b []byte) (metadata, error) {
	var m metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return metadata{}, fmt.Errorf("decode WAL metadata %q: %w", b, err)
	}
	if m.ID == 0 {
		return metadata{}, fmt.Errorf("decode WAL metadata %q: no node id", b)
	}
	return m, nil
}

// check returns ErrIDMismatch or ErrClusterMismatch (wrapped) if the stored
// metadata m does not match the configured id and cluster name.
func (m metadata) check(dir string, id uint64, clusterName string) error {
	if m.ID != id {
		return fmt.Errorf("%w: configured id %d, %s holds id %d; configure id %d or use another raft_dir",
			ErrIDMismatch, id, dir, m.ID, m.ID)
	}
	if m.ClusterName != clusterName {
		return fmt.Errorf("%w: configured cluster name %q, %s holds %q; configure cluster name %q or use another raft_dir",
			ErrClusterMismatch, clusterName, dir, m.ClusterName, m.ClusterName)
	}
	return nil
}

// readWALMetadata reads the metadata record at the head of the newest WAL
// file in walDir, without changing anything on disk (wal.Open in write mode
// would create files and may zero a torn tail, so the ids are checked first).
// Every WAL file starts with a CRC record and the metadata record, written
// and synced before the file gets its .wal name.
func readWALMetadata(walDir string) ([]byte, error) {
	names, err := fileutil.ReadDir(walDir, fileutil.WithExt(".wal"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .wal file in %s", walDir)
	}
	p := filepath.Join(walDir, names[len(names)-1])
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	rec := &walpb.Record{}
	// The head is [CRC, metadata]; allow a couple more records in case a
	// future WAL version puts something first.
	for range 4 {
		if err := dec.Decode(rec); err != nil {
			return nil, fmt.Errorf("read head of %s: %w", p, err)
		}
		switch rec.GetType() {
		case wal.CrcType:
			dec.UpdateCRC(rec.GetCrc())
		case wal.MetadataType:
			return rec.GetData(), nil
		}
	}
	return nil, fmt.Errorf("no metadata record at the head of %s", p)
}
