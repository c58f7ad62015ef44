package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestSaveFlowVersionBaseSemantics(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Flows()
	save := func(id string, base int) (FlowVersion, error) {
		return repo.SaveFlowVersion(ctx, FlowVersion{FlowID: id, Name: id, Doc: []byte(`{"v":1}`), Author: "ada"}, base)
	}
	if _, err := save("f", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := save("g", -1); err != nil { // -1 creates a flow that does not exist
		t.Fatal(err)
	}

	cases := []struct {
		name        string
		id          string
		base        int
		wantVersion int
		conflict    int // the ConflictError's Current; 0: no conflict
		notFound    bool
	}{
		{"create an existing flow", "f", 0, 0, 1, false},
		{"update on the latest", "f", 1, 2, 0, false},
		{"update on a stale base", "f", 1, 0, 2, false},
		{"update on a future base", "f", 5, 0, 2, false},
		{"no check", "f", -1, 3, 0, false},
		{"update a missing flow", "nope", 1, 0, 0, true},
		{"no check on another flow", "g", -1, 2, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := save(tc.id, tc.base)
			switch {
			case tc.conflict > 0:
				var ce *ConflictError
				if !errors.As(err, &ce) {
					t.Fatalf("got %v, want a conflict", err)
				}
				requireEqual(t, ce.Current, tc.conflict)
			case tc.notFound:
				requireErrorIs(t, err, ErrNotFound)
			default:
				requireNoError(t, err)
				requireEqual(t, v.Version, tc.wantVersion)
			}
		})
	}
	if _, err := save("", 0); err == nil {
		t.Fatal("want an error for an empty id")
	}
	if _, err := save("f", -2); err == nil {
		t.Fatal("want an error for base -2")
	}
}

func TestSaveFlowVersionConcurrentEditsOneWins(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Flows()
	_, err := repo.SaveFlowVersion(ctx, FlowVersion{FlowID: "f", Doc: []byte(`{}`)}, 0)
	requireNoError(t, err)

	const editors = 8
	errs := make(chan error, editors)
	var wg sync.WaitGroup
	for range editors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := repo.SaveFlowVersion(ctx, FlowVersion{FlowID: "f", Doc: []byte(`{}`)}, 1)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	wins, conflicts := 0, 0
	for err := range errs {
		var ce *ConflictError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &ce) && ce.Current == 2:
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	requireEqual(t, wins, 1)
	requireEqual(t, conflicts, editors-1)
}

func TestFlowReads(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Flows()
	v1, err := repo.SaveFlowVersion(ctx, FlowVersion{FlowID: "f", Name: "first", Doc: []byte(`{"n":1}`), Author: "ada", Comment: "c1", CreatedAt: at(1)}, 0)
	requireNoError(t, err)
	v2, err := repo.SaveFlowVersion(ctx, FlowVersion{FlowID: "f", Name: "second", Doc: []byte(`{"n":2}`), Author: "bob", Comment: "c2", CreatedAt: at(2)}, 1)
	requireNoError(t, err)
	other, err := repo.SaveFlowVersion(ctx, FlowVersion{Tenant: "acme", FlowID: "f", Name: "acme's", Doc: []byte(`{}`), CreatedAt: at(3)}, 0)
	requireNoError(t, err)
	requireEqual(t, v2, FlowVersion{Tenant: DefaultTenant, FlowID: "f", Version: 2, Name: "second", Doc: []byte(`{"n":2}`), Author: "bob", Comment: "c2", CreatedAt: at(2)})

	reads := []struct {
		name     string
		read     func() (FlowVersion, error)
		want     FlowVersion
		notFound bool
	}{
		{"latest", func() (FlowVersion, error) { return repo.LatestFlow(ctx, "", "f") }, v2, false},
		{"latest of another tenant", func() (FlowVersion, error) { return repo.LatestFlow(ctx, "acme", "f") }, other, false},
		{"latest missing", func() (FlowVersion, error) { return repo.LatestFlow(ctx, "", "nope") }, FlowVersion{}, true},
		{"version 1", func() (FlowVersion, error) { return repo.FlowVersionAt(ctx, DefaultTenant, "f", 1) }, v1, false},
		{"version 3 missing", func() (FlowVersion, error) { return repo.FlowVersionAt(ctx, DefaultTenant, "f", 3) }, FlowVersion{}, true},
	}
	for _, tc := range reads {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.read()
			if tc.notFound {
				requireErrorIs(t, err, ErrNotFound)
				return
			}
			requireNoError(t, err)
			requireEqual(t, got, tc.want)
		})
	}

	t.Run("versions newest first without doc", func(t *testing.T) {
		vs, err := repo.FlowVersions(ctx, "", "f")
		requireNoError(t, err)
		w2, w1 := v2, v1
		w2.Doc, w1.Doc = nil, nil
		requireEqual(t, vs, []FlowVersion{w2, w1})
		_, err = repo.FlowVersions(ctx, "", "nope")
		requireErrorIs(t, err, ErrNotFound)
	})
}

func TestListDeployDelete(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Flows()
	for _, v := range []FlowVersion{
		{FlowID: "b", Name: "B1", Author: "ada", CreatedAt: at(1)},
		{FlowID: "b", Name: "B2", Author: "bob", CreatedAt: at(2)},
		{FlowID: "a", Name: "A1", Author: "ada", CreatedAt: at(3)},
		{Tenant: "acme", FlowID: "c", Name: "C1", Author: "eve", CreatedAt: at(4)},
	} {
		v.Doc = []byte(`{"name":"` + v.Name + `"}`)
		_, err := repo.SaveFlowVersion(ctx, v, -1)
		requireNoError(t, err)
	}

	list, err := repo.ListFlows(ctx, "")
	requireNoError(t, err)
	requireEqual(t, list, []FlowSummary{
		{Tenant: DefaultTenant, FlowID: "a", Name: "A1", Version: 1, Author: "ada", UpdatedAt: at(3)},
		{Tenant: DefaultTenant, FlowID: "b", Name: "B2", Version: 2, Author: "bob", UpdatedAt: at(2)},
	})

	setCases := []struct {
		name     string
		tenant   string
		id       string
		version  int
		notFound bool
	}{
		{"deploy b1", "", "b", 1, false},
		{"deploy c1 of acme", "acme", "c", 1, false},
		{"deploy a missing version", "", "a", 2, true},
		{"deploy a missing flow", "", "nope", 1, true},
		{"deploy another tenant's flow", "", "c", 1, true},
		{"deploy a1", "", "a", 1, false},
		{"undeploy a", "", "a", 0, false},
		{"undeploy a missing flow", "", "nope", 0, true},
	}
	for _, tc := range setCases {
		t.Run(tc.name, func(t *testing.T) {
			err := repo.SetDeployed(ctx, tc.tenant, tc.id, tc.version)
			if tc.notFound {
				requireErrorIs(t, err, ErrNotFound)
				return
			}
			requireNoError(t, err)
		})
	}

	list, err = repo.ListFlows(ctx, "")
	requireNoError(t, err)
	requireEqual(t, list[0].DeployedVersion, 0)
	requireEqual(t, list[0].DeployedAt, (*time.Time)(nil))
	requireEqual(t, list[1].DeployedVersion, 1)
	if list[1].DeployedAt == nil || list[1].DeployedAt.IsZero() {
		t.Fatalf("want a deploy time, got %+v", list[1])
	}

	deployed, err := repo.DeployedFlows(ctx)
	requireNoError(t, err)
	if len(deployed) != 2 {
		t.Fatalf("got %d deployed flows, want 2: %+v", len(deployed), deployed)
	}
	requireEqual(t, []string{deployed[0].Tenant, deployed[0].FlowID, deployed[0].Name, string(deployed[0].Doc)},
		[]string{"acme", "c", "C1", `{"name":"C1"}`})
	requireEqual(t, []string{deployed[1].Tenant, deployed[1].FlowID, deployed[1].Name, string(deployed[1].Doc)},
		[]string{DefaultTenant, "b", "B1", `{"name":"B1"}`})

	requireNoError(t, repo.DeleteFlow(ctx, "", "b"))
	requireErrorIs(t, repo.DeleteFlow(ctx, "", "b"), ErrNotFound)
	requireErrorIs(t, repo.DeleteFlow(ctx, "", "c"), ErrNotFound) // acme's
	_, err = repo.FlowVersionAt(ctx, "", "b", 1)
	requireErrorIs(t, err, ErrNotFound)
	deployed, err = repo.DeployedFlows(ctx)
	requireNoError(t, err)
	requireEqual(t, len(deployed), 1)

	// A deleted id starts again at version 1.
	v, err := repo.SaveFlowVersion(ctx, FlowVersion{FlowID: "b", Doc: []byte(`{}`)}, 0)
	requireNoError(t, err)
	requireEqual(t, v.Version, 1)
}
