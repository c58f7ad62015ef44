package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

func TestDeadLetterRoundTrip(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).DeadLetters()
	in := DeadLetter{
		ID: "ignored", FlowID: "f", Version: 3, NodeID: "n1", MsgID: "m1", MsgType: "TELEMETRY",
		DataType: "JSON", Data: `{"t":1}`, Metadata: map[string]string{"deviceId": "d1"},
		Error: "timed out in node n1", Trace: json.RawMessage(`[{"node":"n1"}]`), CreatedAt: at(5),
	}
	d, err := repo.AddDeadLetter(ctx, in)
	requireNoError(t, err)
	if d.ID == "" || d.ID == "ignored" {
		t.Fatalf("want a generated id, got %q", d.ID)
	}
	want := in
	want.ID, want.Tenant = d.ID, DefaultTenant
	requireEqual(t, d, want)
	got, err := repo.DeadLetter(ctx, "", d.ID)
	requireNoError(t, err)
	requireEqual(t, got, want)

	bare, err := repo.AddDeadLetter(ctx, DeadLetter{Tenant: "acme", FlowID: "g"})
	requireNoError(t, err)
	got, err = repo.DeadLetter(ctx, "acme", bare.ID)
	requireNoError(t, err)
	requireEqual(t, got.Metadata, map[string]string{})
	requireEqual(t, got.Trace, json.RawMessage(nil))

	_, err = repo.DeadLetter(ctx, DefaultTenant, bare.ID) // another tenant's
	requireErrorIs(t, err, ErrNotFound)
	if _, err := repo.AddDeadLetter(ctx, DeadLetter{Trace: json.RawMessage(`{`)}); err == nil {
		t.Fatal("want an error for a trace that is not json")
	}

	requireErrorIs(t, repo.DeleteDeadLetter(ctx, DefaultTenant, bare.ID), ErrNotFound)
	requireNoError(t, repo.DeleteDeadLetter(ctx, "acme", bare.ID))
	requireErrorIs(t, repo.DeleteDeadLetter(ctx, "acme", bare.ID), ErrNotFound)
	_, err = repo.DeadLetter(ctx, "acme", bare.ID)
	requireErrorIs(t, err, ErrNotFound)
}

func TestDeadLettersListAndBound(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{MaxDeadLetters: 5}).DeadLetters()
	// Seven letters, the oldest two are dropped: m2..m6 remain.
	for i := range 7 {
		tenant, flow := DefaultTenant, "f"
		if i%2 == 1 {
			flow = "g"
		}
		if i == 6 {
			tenant = "acme"
		}
		_, err := repo.AddDeadLetter(ctx, DeadLetter{Tenant: tenant, FlowID: flow, MsgID: fmt.Sprintf("m%d", i)})
		requireNoError(t, err)
	}

	cases := []struct {
		name   string
		filter DeadLetterFilter
		want   []string
		total  int
	}{
		{"everything, newest first", DeadLetterFilter{}, []string{"m6", "m5", "m4", "m3", "m2"}, 5},
		{"one tenant", DeadLetterFilter{Tenant: DefaultTenant}, []string{"m5", "m4", "m3", "m2"}, 4},
		{"one flow", DeadLetterFilter{Tenant: DefaultTenant, FlowID: "g"}, []string{"m5", "m3"}, 2},
		{"first page", DeadLetterFilter{Tenant: DefaultTenant, Limit: 3}, []string{"m5", "m4", "m3"}, 4},
		{"second page", DeadLetterFilter{Tenant: DefaultTenant, Limit: 3, Offset: 3}, []string{"m2"}, 4},
		{"past the end", DeadLetterFilter{Limit: 3, Offset: 9}, []string{}, 5},
		{"unknown tenant", DeadLetterFilter{Tenant: "nobody"}, []string{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page, total, err := repo.ListDeadLetters(ctx, tc.filter)
			requireNoError(t, err)
			ids := []string{}
			for _, d := range page {
				ids = append(ids, d.MsgID)
			}
			requireEqual(t, ids, tc.want)
			requireEqual(t, total, tc.total)
		})
	}
}
