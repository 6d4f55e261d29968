package store

import (
	"database/sql"
	"fmt"

	"github.com/airlock-dev/airlock/authority"
)

// Releases and download manifests: see migration 6.

const releaseCols = `SELECT id, name, version, file_name, sha256, size, created_at, actor FROM releases`

func (t *txn) Releases() ([]authority.Release, error) {
	var out []authority.Release
	err := all(t, releaseCols+` ORDER BY name, version, file_name`, nil, func(r *sql.Rows) error {
		var x authority.Release
		err := r.Scan(&x.ID, &x.Name, &x.Version, &x.FileName, &x.SHA256, &x.Size, &x.CreatedAt, &x.Actor)
		out = append(out, x)
		return err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	byID := make(map[int64]*authority.Release, len(out))
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	err = all(t, `SELECT release_id, software FROM release_software ORDER BY release_id, software`, nil, func(r *sql.Rows) error {
		var id int64
		var sw string
		if err := r.Scan(&id, &sw); err != nil {
			return err
		}
		if x := byID[id]; x != nil {
			x.Software = append(x.Software, sw)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if len(out[i].Software) == 0 {
			return nil, fmt.Errorf("%w: release file %q names no software", authority.ErrCorrupt, out[i].FileName)
		}
	}
	return out, nil
}

func (t *txn) InsertRelease(r *authority.Release) (err error) {
	r.ID, err = t.insertID(`INSERT INTO releases (name, version, file_name, sha256, size, created_at, actor) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.Version, r.FileName, r.SHA256, r.Size, r.CreatedAt, r.Actor)
	if err != nil {
		return err
	}
	for _, sw := range r.Software {
		if _, err := t.exec(`INSERT INTO release_software (release_id, software) VALUES (?, ?)`, r.ID, sw); err != nil {
			return err
		}
	}
	return nil
}
