package authority

// The store's part of releases and download manifests (see release.go).

// ReleaseReadTx reads the release records of a ReadTx.
type ReleaseReadTx interface {
	// Releases returns every release file with its software names, by
	// release name, version and file name.
	Releases() ([]Release, error)
}

// ReleaseTx writes the release records of a Tx.
type ReleaseTx interface {
	// InsertRelease stores a release file and its software names; it
	// sets r.ID.
	InsertRelease(r *Release) error
}

// A Release is one file of a software release the vendor registered: the
// release's name and version, the file's name, SHA-256 and size, and the
// software whose products entitle an organization to it.
type Release struct {
	ID        int64
	Name      string   // the release, e.g. "vms-server"
	Version   string   // e.g. "4.2.0"
	FileName  string   // a safe base name (codes.CheckFileName), unique in the ledger
	SHA256    []byte   // 32 bytes
	Size      int64    // bytes
	Software  []string // sorted, unique, at least one
	CreatedAt int64    // Unix seconds, UTC
	Actor     string
}

// Ref returns "NAME VERSION".
func (r *Release) Ref() string { return r.Name + " " + r.Version }
