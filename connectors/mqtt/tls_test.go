package mqtt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir and returns their paths.
func pki(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	serverCert, serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	clientCert, clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return
}

// TLS with a CA and a client certificate against Mosquitto, which requires
// one; without the CA the server's certificate is refused (insecureSkipVerify
// is off by default).
func TestTLS(t *testing.T) {
	conntest.Need(t, mosquittoBin, "apt-get install mosquitto mosquitto-clients")
	dir := t.TempDir()
	ca, sc, sk, cc, ck := pki(t, dir)
	tlsPort := conntest.FreePort(t)
	mq := startMosquitto(t, fmt.Sprintf("listener %d 127.0.0.1", tlsPort), "cafile "+ca, "certfile "+sc, "keyfile "+sk, "require_certificate true")
	m := conntest.NewManager(t, engine.Options{})
	p := conntest.Record(t, "tls")
	cfg := baseIn(fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort), "secure/#")
	cfg["tls"] = map[string]any{"ca": ca, "cert": cc, "key": ck}
	conntest.Deploy(t, m, "default", inFlow("tls", cfg, conntest.RecordType), 1)
	waitState(t, m, "tls", engine.StateConnected)
	dev := testClient(t, mq.url(), "dev-tls", "", "")
	publish(t, dev, "secure/1", 1, "over tls")
	if got := p.Next(t, wait); got.Data != "over tls" {
		t.Fatalf("got %q", got.Data)
	}

	untrusted := baseIn(fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort), "secure/#")
	untrusted["tls"] = map[string]any{"cert": cc, "key": ck}
	conntest.Deploy(t, m, "default", inFlow("tls-untrusted", untrusted, conntest.RecordType), 1)
	var st engine.SourceStatus
	conntest.Eventually(t, wait, "a refused certificate", func() bool {
		st = conntest.Status(t, m, "tls-untrusted")
		return st.Errors > 0
	})
	if st.State != engine.StateRetrying || !strings.Contains(st.LastError, "certificate") {
		t.Fatalf("status = %+v", st)
	}

	missing := baseIn(fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort), "secure/#")
	missing["tls"] = map[string]any{"ca": filepath.Join(dir, "nope.pem")}
	conntest.Deploy(t, m, "default", inFlow("tls-missing", missing, conntest.RecordType), 1)
	if st := conntest.Status(t, m, "tls-missing"); st.State != engine.StateError || !strings.Contains(st.LastError, "nope.pem") {
		t.Fatalf("status = %+v", st)
	}
}
