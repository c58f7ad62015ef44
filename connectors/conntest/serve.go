package conntest

import (
	"context"
	"net"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Serve serves app on a free 127.0.0.1 port until the test ends and returns
// its address, once the app answers readyPath (a path it does not know)
// with 404.
func Serve(t testing.TB, app *fiber.App, readyPath string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.ShutdownWithContext(ctx); err != nil {
			t.Errorf("app shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addr := ln.Addr().String()
	tr := &nethttp.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &nethttp.Client{Transport: tr, Timeout: 5 * time.Second}
	Eventually(t, 10*time.Second, "the app answers", func() bool {
		resp, err := client.Get("http://" + addr + readyPath)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == nethttp.StatusNotFound
	})
	return addr
}
