#!/bin/sh
# Makes throwaway certificates for the TLS tests with the real openssl CLI (EC P-256: fast).
# Usage: make-test-certs.sh DIR. Nothing it writes is ever committed.
#   ca.pem/.key              test CA (signs everything below)
#   gateway.pem/.key         CN=gateway.test   SAN gateway.test, 127.0.0.1 (default certificate)
#   renewed.pem/.key         CN=renewed.test   SAN renewed.test, 127.0.0.1 (for reload tests)
#   api.pem/.key             CN=api.example.com
#   pay.pem/.key             CN=*.pay.example.com
#   legacy.pem/.key          CN=legacy.internal, no subjectAltName (a name only in the subject)
#   expired.pem/.key         CN=expired.test, valid 2020-01-01 .. 2020-01-02
#   stray.key                a key that matches no certificate
#   client-ca.pem/.key       CA for client certificates
#   client.pem/.key          CN=client-1,O=Acme Payments (signed by client-ca)
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name subject
    newkey "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # name subject san issuer
    newkey "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial -days 2 -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
ca ca "/CN=Sluice Test CA"
leaf gateway "/CN=gateway.test" "DNS:gateway.test,IP:127.0.0.1" ca
leaf renewed "/CN=renewed.test" "DNS:renewed.test,IP:127.0.0.1" ca
leaf api "/CN=api.example.com" "DNS:api.example.com" ca
leaf pay "/CN=*.pay.example.com" "DNS:*.pay.example.com" ca
newkey legacy.key
openssl req -new -key legacy.key -out legacy.csr -subj "/CN=legacy.internal" 2>/dev/null
printf 'basicConstraints=CA:FALSE\n' > legacy.ext
openssl x509 -req -in legacy.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile legacy.ext -out legacy.pem 2>/dev/null
rm -f legacy.csr legacy.ext
ca client-ca "/CN=Sluice Test Client CA"
leaf client "/O=Acme Payments/CN=client-1" "DNS:client-1" client-ca
newkey stray.key

# An expired certificate: `openssl ca` takes explicit start and end dates.
newkey expired.key
openssl req -new -key expired.key -out expired.csr -subj "/CN=expired.test" 2>/dev/null
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
[any]
commonName = supplied
CNF
openssl ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext 2>/dev/null
rm -rf expired.csr ca-db ca.srl client-ca.srl
