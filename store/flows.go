package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FlowVersion is one saved version of a flow document.
type FlowVersion struct {
	Tenant    string    `json:"tenant"`
	FlowID    string    `json:"flowId"`
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Doc       []byte    `json:"-"`
	Author    string    `json:"author"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"createdAt"`
}

// FlowSummary describes a flow by its latest version and its deployment.
type FlowSummary struct {
	Tenant    string    `json:"tenant"`
	FlowID    string    `json:"flowId"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Author    string    `json:"author"`
	UpdatedAt time.Time `json:"updatedAt"`
	// DeployedVersion is 0 when the flow is not deployed.
	DeployedVersion int        `json:"deployedVersion"`
	DeployedAt      *time.Time `json:"deployedAt,omitempty"`
}

// FlowRepo stores flows as lists of versions.
type FlowRepo interface {
	// SaveFlowVersion appends version latest+1. baseVersion 0: the flow must
	// not exist yet; baseVersion > 0: must equal the latest version (a flow
	// that does not exist is ErrNotFound); -1: no check. Else *ConflictError.
	SaveFlowVersion(ctx context.Context, v FlowVersion, baseVersion int) (FlowVersion, error)
	// LatestFlow returns the newest version, or ErrNotFound.
	LatestFlow(ctx context.Context, tenant, id string) (FlowVersion, error)
	// FlowVersionAt returns one version, or ErrNotFound.
	FlowVersionAt(ctx context.Context, tenant, id string, version int) (FlowVersion, error)
	// FlowVersions lists every version, newest first, without Doc; a flow
	// that does not exist is ErrNotFound.
	FlowVersions(ctx context.Context, tenant, id string) ([]FlowVersion, error)
	// ListFlows summarises a tenant's flows, by id.
	ListFlows(ctx context.Context, tenant string) ([]FlowSummary, error)
	// DeleteFlow deletes a flow and all its versions, or returns ErrNotFound.
	DeleteFlow(ctx context.Context, tenant, id string) error
	// SetDeployed records which version runs; 0 means undeployed. An unknown
	// flow or version is ErrNotFound.
	SetDeployed(ctx context.Context, tenant, id string, version int) error
	// DeployedFlows returns, across every tenant, the deployed version of
	// each deployed flow, with Doc.
	DeployedFlows(ctx context.Context) ([]FlowVersion, error)
}

type flowRepo struct{ db *sql.DB }

var _ FlowRepo = (*flowRepo)(nil)

const versionColumns = `tenant, flow_id, version, name, doc, author, comment, created_at`

func (r *flowRepo) SaveFlowVersion(ctx context.Context, v FlowVersion, baseVersion int) (FlowVersion, error) {
	if v.FlowID == "" {
		return FlowVersion{}, errors.New("save flow: empty id")
	}
	if baseVersion < -1 {
		return FlowVersion{}, fmt.Errorf("save flow %s: base version %d: want -1, 0 or a version", v.FlowID, baseVersion)
	}
	v.Tenant = tenantOr(v.Tenant)
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now()
	}
	v.CreatedAt = fromUnix(toUnix(v.CreatedAt))
	if v.Doc == nil {
		v.Doc = []byte{}
	}

	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return FlowVersion{}, fmt.Errorf("save flow %s: begin: %w", v.FlowID, err)
	}
	defer rollback(tx)
	var latest int
	err = tx.QueryRowContext(ctx, `SELECT latest_version FROM flows WHERE tenant = ? AND id = ?`,
		v.Tenant, v.FlowID).Scan(&latest)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return FlowVersion{}, fmt.Errorf("save flow %s: %w", v.FlowID, err)
	}
	switch {
	case baseVersion > 0 && !exists:
		return FlowVersion{}, fmt.Errorf("save flow %s: %w", v.FlowID, ErrNotFound)
	case baseVersion >= 0 && baseVersion != latest:
		return FlowVersion{}, &ConflictError{Current: latest}
	}
	v.Version = latest + 1
	if exists {
		_, err = tx.ExecContext(ctx, `UPDATE flows SET latest_version = ? WHERE tenant = ? AND id = ?`,
			v.Version, v.Tenant, v.FlowID)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO flows (tenant, id, latest_version) VALUES (?, ?, ?)`,
			v.Tenant, v.FlowID, v.Version)
	}
	if err != nil {
		return FlowVersion{}, fmt.Errorf("save flow %s: %w", v.FlowID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO flow_versions (`+versionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Tenant, v.FlowID, v.Version, v.Name, v.Doc, v.Author, v.Comment, toUnix(v.CreatedAt)); err != nil {
		return FlowVersion{}, fmt.Errorf("save flow %s version %d: %w", v.FlowID, v.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return FlowVersion{}, fmt.Errorf("save flow %s: commit: %w", v.FlowID, err)
	}
	return v, nil
}

func (r *flowRepo) LatestFlow(ctx context.Context, tenant, id string) (FlowVersion, error) {
	row := r.db.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM flow_versions
		WHERE tenant = ? AND flow_id = ? ORDER BY version DESC LIMIT 1`, tenantOr(tenant), id)
	v, err := scanVersion(row.Scan, true)
	if err != nil {
		return FlowVersion{}, fmt.Errorf("flow %s: %w", id, err)
	}
	return v, nil
}

func (r *flowRepo) FlowVersionAt(ctx context.Context, tenant, id string, version int) (FlowVersion, error) {
	row := r.db.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM flow_versions
		WHERE tenant = ? AND flow_id = ? AND version = ?`, tenantOr(tenant), id, version)
	v, err := scanVersion(row.Scan, true)
	if err != nil {
		return FlowVersion{}, fmt.Errorf("flow %s version %d: %w", id, version, err)
	}
	return v, nil
}

func (r *flowRepo) FlowVersions(ctx context.Context, tenant, id string) ([]FlowVersion, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT tenant, flow_id, version, name, NULL, author, comment, created_at
		FROM flow_versions WHERE tenant = ? AND flow_id = ? ORDER BY version DESC`, tenantOr(tenant), id)
	if err != nil {
		return nil, fmt.Errorf("flow %s versions: %w", id, err)
	}
	defer rows.Close()
	vs := []FlowVersion{}
	for rows.Next() {
		v, err := scanVersion(rows.Scan, false)
		if err != nil {
			return nil, fmt.Errorf("flow %s versions: %w", id, err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flow %s versions: %w", id, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("flow %s: %w", id, ErrNotFound)
	}
	return vs, nil
}

func (r *flowRepo) ListFlows(ctx context.Context, tenant string) ([]FlowSummary, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT f.tenant, f.id, v.name, v.version, v.author, v.created_at,
			f.deployed_version, f.deployed_at
		FROM flows f JOIN flow_versions v
			ON v.tenant = f.tenant AND v.flow_id = f.id AND v.version = f.latest_version
		WHERE f.tenant = ? ORDER BY f.id`, tenantOr(tenant))
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	defer rows.Close()
	out := []FlowSummary{}
	for rows.Next() {
		var s FlowSummary
		var updated int64
		var deployedAt sql.NullInt64
		if err := rows.Scan(&s.Tenant, &s.FlowID, &s.Name, &s.Version, &s.Author, &updated,
			&s.DeployedVersion, &deployedAt); err != nil {
			return nil, fmt.Errorf("list flows: %w", err)
		}
		s.UpdatedAt = fromUnix(updated)
		if deployedAt.Valid {
			t := fromUnix(deployedAt.Int64)
			s.DeployedAt = &t
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	return out, nil
}

func (r *flowRepo) DeleteFlow(ctx context.Context, tenant, id string) error {
	res, err := r.db.ExecContext(ctx, `DELETE FROM flows WHERE tenant = ? AND id = ?`, tenantOr(tenant), id)
	if err != nil {
		return fmt.Errorf("delete flow %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete flow %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete flow %s: %w", id, ErrNotFound)
	}
	return nil
}

func (r *flowRepo) SetDeployed(ctx context.Context, tenant, id string, version int) error {
	tenant = tenantOr(tenant)
	var res sql.Result
	var err error
	if version <= 0 {
		res, err = r.db.ExecContext(ctx, `UPDATE flows SET deployed_version = 0, deployed_at = NULL
			WHERE tenant = ? AND id = ?`, tenant, id)
	} else {
		res, err = r.db.ExecContext(ctx, `UPDATE flows SET deployed_version = ?, deployed_at = ?
			WHERE tenant = ? AND id = ? AND EXISTS (
				SELECT 1 FROM flow_versions WHERE tenant = ? AND flow_id = ? AND version = ?)`,
			version, toUnix(now()), tenant, id, tenant, id, version)
	}
	if err != nil {
		return fmt.Errorf("set flow %s deployed version %d: %w", id, version, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set flow %s deployed version %d: %w", id, version, err)
	} else if n == 0 {
		return fmt.Errorf("set flow %s deployed version %d: %w", id, version, ErrNotFound)
	}
	return nil
}

func (r *flowRepo) DeployedFlows(ctx context.Context) ([]FlowVersion, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT v.tenant, v.flow_id, v.version, v.name, v.doc, v.author, v.comment, v.created_at
		FROM flows f JOIN flow_versions v
			ON v.tenant = f.tenant AND v.flow_id = f.id AND v.version = f.deployed_version
		WHERE f.deployed_version > 0 ORDER BY f.tenant, f.id`)
	if err != nil {
		return nil, fmt.Errorf("deployed flows: %w", err)
	}
	defer rows.Close()
	out := []FlowVersion{}
	for rows.Next() {
		v, err := scanVersion(rows.Scan, true)
		if err != nil {
			return nil, fmt.Errorf("deployed flows: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deployed flows: %w", err)
	}
	return out, nil
}

// scanVersion scans versionColumns; withDoc false leaves Doc nil.
func scanVersion(scan func(...any) error, withDoc bool) (FlowVersion, error) {
	var v FlowVersion
	var doc []byte
	var created int64
	err := scan(&v.Tenant, &v.FlowID, &v.Version, &v.Name, &doc, &v.Author, &v.Comment, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return FlowVersion{}, ErrNotFound
	}
	if err != nil {
		return FlowVersion{}, err
	}
	if withDoc {
		if doc == nil {
			doc = []byte{}
		}
		v.Doc = doc
	}
	v.CreatedAt = fromUnix(created)
	return v, nil
}
