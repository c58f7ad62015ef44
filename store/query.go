package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// filter builds the WHERE clause of a list query: every condition is
// ANDed, every value is a bound parameter.
type filter struct {
	where []string
	args  []any
}

// tenantFilter starts a filter on a tenant's rows.
func tenantFilter(tenant string) *filter {
	return &filter{where: []string{"tenant = ?"}, args: []any{tenantOr(tenant)}}
}

// eq adds col = v unless v is empty.
func (f *filter) eq(col, v string) {
	if v != "" {
		f.add(col+" = ?", v)
	}
}

// add adds a condition with its parameters.
func (f *filter) add(cond string, args ...any) {
	f.where = append(f.where, cond)
	f.args = append(f.args, args...)
}

// in adds col IN (vs...) unless vs is empty.
func (f *filter) in(col string, vs []string) {
	if len(vs) == 0 {
		return
	}
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	f.add(col+" IN (?"+strings.Repeat(", ?", len(vs)-1)+")", args...)
}

// between bounds col (Unix milliseconds) to [from, to); a zero time leaves
// that side open.
func (f *filter) between(col string, from, to time.Time) {
	if !from.IsZero() {
		f.add(col+" >= ?", from.UnixMilli())
	}
	if !to.IsZero() {
		f.add(col+" < ?", to.UnixMilli())
	}
}

// page counts the matching rows of table and queries one page of columns in
// order; limit <= 0 means no limit. what names the query in errors.
func (f *filter) page(ctx context.Context, db *sql.DB, what, table, columns, order string, limit, offset int) (*sql.Rows, int, error) {
	cond := " WHERE " + strings.Join(f.where, " AND ")
	var total int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+cond, f.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("%s: count: %w", what, err)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.QueryContext(ctx, `SELECT `+columns+` FROM `+table+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(f.args, limit, max(offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	return rows, total, nil
}
