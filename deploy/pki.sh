#!/usr/bin/env bash
# A demonstration and test PKI for Schakel's mutual TLS, made with the openssl
# command-line tool. NOT for production: the CA key is an ordinary file.
# docs/pki.md describes the files and how the gateway and nodes use them.
#
#   deploy/pki.sh DIR ca                 CA key and certificate: DIR/ca.key, DIR/ca.pem
#   deploy/pki.sh DIR org ORG-ID         key and certificate of an organisation,
#                                        signed by DIR's CA: DIR/ORG-ID.key, DIR/ORG-ID.pem
#
# Options (anywhere on the command line):
#   --expired        org: a certificate whose validity ended long ago
#                    (2020-01-01 to 2020-01-02)
#   --self-signed    org: signed by its own key instead of by a CA
#   --other-ca DIR2  org: signed by the CA in DIR2 (made with: pki.sh DIR2 ca)
#                    instead of DIR's; the files still go to DIR
#   --name NAME      org: write DIR/NAME.key and DIR/NAME.pem instead of
#                    DIR/ORG-ID.*, so that variants of one organisation can
#                    sit side by side (e.g. --expired --name acme-expired)
#   --dns NAME       org: also name host NAME in the certificate (a DNS
#                    subject alternative name), e.g. --dns node1.example.nl;
#                    repeatable
#   --ip ADDR        org: also name IP address ADDR (IPv4 or IPv6) in the
#                    certificate (an IP SAN), e.g. --ip 10.0.0.2; repeatable
#   --days N         validity in days (default: ca 3650, org 365)
#   --force          replace files that exist (default: keep them)
#   -h, --help       this text
#
# Keys are EC P-256 (PKCS#8 PEM), mode 0600; certificates mode 0644.
# Organisation certificates: CN=ORG-ID, subject alternative names
# URI:schakel://org/ORG-ID, DNS:localhost and IP:127.0.0.1, then those of
# --dns and --ip in the order given; extended key usage serverAuth and
# clientAuth (one certificate serves as TLS server and client). A party
# reached at another address than loopback needs it named (--dns/--ip): the
# client checks the server's certificate against the host it connects to.
#
# Idempotent: when both files of the requested key pair exist they are kept
# and nothing is written (exit 0), unless --force (also when other --dns or
# --ip names are wanted). When only one of the two exists the script refuses
# (exit 1): it never pairs a new certificate with an old key or the reverse
# by accident. Files appear complete or not at all
# (written in a temporary directory inside DIR, then renamed).
#
# Exit status: 0 done (or nothing to do), 1 failure, 2 usage error.
set -euo pipefail
umask 077

readonly ORG_ID_PATTERN='^[a-z][a-z0-9-]{1,62}$'

usage() {
  sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" | sed '/^set -euo/,$d'
}

die() { echo "pki.sh: $*" >&2; exit 1; }
usage_error() { echo "pki.sh: $*" >&2; echo "usage: deploy/pki.sh [options] DIR ca | DIR org ORG-ID  (--help for more)" >&2; exit 2; }

expired=0
self_signed=0
other_ca=""
name=""
days=""
force=0
dns_names=()
ip_addresses=()
positional=()
while (($#)); do
  case "$1" in
    --expired) expired=1 ;;
    --self-signed) self_signed=1 ;;
    --other-ca)
      (($# >= 2)) || usage_error "--other-ca needs a directory"
      other_ca="$2"; shift ;;
    --other-ca=*) other_ca="${1#*=}" ;;
    --name)
      (($# >= 2)) || usage_error "--name needs a value"
      name="$2"; shift ;;
    --name=*) name="${1#*=}" ;;
    --days)
      (($# >= 2)) || usage_error "--days needs a number"
      days="$2"; shift ;;
    --days=*) days="${1#*=}" ;;
    --dns)
      (($# >= 2)) || usage_error "--dns needs a host name"
      dns_names+=("$2"); shift ;;
    --dns=*) dns_names+=("${1#*=}") ;;
    --ip)
      (($# >= 2)) || usage_error "--ip needs an address"
      ip_addresses+=("$2"); shift ;;
    --ip=*) ip_addresses+=("${1#*=}") ;;
    --force) force=1 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; positional+=("$@"); break ;;
    -*) usage_error "unknown option $1" ;;
    *) positional+=("$1") ;;
  esac
  shift
done

(( ${#positional[@]} >= 2 )) || usage_error "DIR and a command (ca or org) are needed"
dir="${positional[0]}"
command="${positional[1]}"

command -v openssl >/dev/null || die "the openssl command is not installed (apt-get install openssl)"

if [[ -n "$days" && ! "$days" =~ ^[1-9][0-9]{0,4}$ ]]; then
  usage_error "--days is \"$days\"; it must be a whole number of days from 1 to 99999"
fi

case "$command" in
  ca)
    (( ${#positional[@]} == 2 )) || usage_error "ca takes no further argument"
    if (( expired || self_signed || ${#dns_names[@]} || ${#ip_addresses[@]} )) ||
       [[ -n "$other_ca" || -n "$name" ]]; then
      usage_error "--expired, --self-signed, --other-ca, --name, --dns and --ip apply to org, not to ca"
    fi
    stem="ca"
    days="${days:-3650}"
    ;;
  org)
    (( ${#positional[@]} == 3 )) || usage_error "org takes exactly one ORG-ID"
    org_id="${positional[2]}"
    [[ "$org_id" =~ $ORG_ID_PATTERN ]] ||
      usage_error "organisation id \"$org_id\" is not valid: 2 to 63 characters of [a-z0-9-], starting with a letter"
    (( self_signed == 0 )) || [[ -z "$other_ca" ]] ||
      usage_error "--self-signed and --other-ca exclude each other"
    stem="${name:-$org_id}"
    [[ "$stem" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$ && "$stem" != "ca" ]] ||
      usage_error "--name \"$stem\" is not valid: 1 to 100 characters of [A-Za-z0-9._-], not starting with . or -, and not \"ca\""
    days="${days:-365}"
    ;;
  *) usage_error "unknown command \"$command\"; use ca or org" ;;
esac

# Subject alternative names (org): loopback always, then --dns and --ip.
# A DNS name: dot-separated labels of letters, digits and - (not at a label's
# start or end), 1 to 63 characters each, at most 253 in all; a leading "*."
# (a wildcard) is not accepted. An IPv4 address: four decimal numbers 0 to 255
# without leading zeros; an IPv6 address: hexadecimal groups and colons,
# "::" at most once (openssl checks the rest).
valid_dns_name() {
  local label labels
  [[ "$1" =~ ^[A-Za-z0-9.-]{1,253}$ && "$1" != *. && "$1" != .* && "$1" != *..* ]] || return 1
  IFS=. read -ra labels <<<"$1"
  for label in "${labels[@]}"; do
    [[ "$label" =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] || return 1
  done
}
valid_ip_address() {
  local octet
  if [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
    for octet in "${BASH_REMATCH[@]:1}"; do
      [[ "$octet" =~ ^(0|[1-9][0-9]*)$ ]] && (( octet <= 255 )) || return 1
    done
    return 0
  fi
  [[ "$1" == *:* && "$1" =~ ^[0-9A-Fa-f:]{2,39}$ ]] || return 1
  local rest="${1//::/}"
  (( ${#1} - ${#rest} <= 2 )) || return 1            # "::" at most once
  [[ "$1" != *:::* ]] || return 1
  [[ ! "$1" =~ (^|:)[0-9A-Fa-f]{5,} ]] || return 1   # groups of at most 4 digits
  [[ "$1" == *::* || $(tr -cd : <<<"$1" | wc -c) -eq 7 ]] || return 1
}
san="URI:schakel://org/${org_id:-unused}, DNS:localhost, IP:127.0.0.1"
for host in "${dns_names[@]}"; do
  valid_dns_name "$host" ||
    usage_error "--dns \"$host\" is not a host name: labels of letters, digits and - separated by dots (e.g. node1.example.nl)"
  [[ "${host,,}" == localhost ]] || san+=", DNS:$host"
done
for address in "${ip_addresses[@]}"; do
  valid_ip_address "$address" ||
    usage_error "--ip \"$address\" is not an IPv4 or IPv6 address (e.g. 10.0.0.2 or fd00::2)"
  [[ "$address" == 127.0.0.1 ]] || san+=", IP:$address"
done

mkdir -p -- "$dir"
key="$dir/$stem.key"
cert="$dir/$stem.pem"

if (( force == 0 )); then
  if [[ -e "$key" && -e "$cert" ]]; then
    echo "pki.sh: $key and $cert exist; kept (--force replaces them)"
    exit 0
  elif [[ -e "$key" || -e "$cert" ]]; then
    present="$key"; missing="$cert"
    [[ -e "$cert" ]] && { present="$cert"; missing="$key"; }
    die "$present exists but $missing does not; remove $present or use --force"
  fi
fi

# The signing CA (org only).
ca_dir="${other_ca:-$dir}"
if [[ "$command" == org && $self_signed == 0 ]]; then
  [[ -f "$ca_dir/ca.key" && -f "$ca_dir/ca.pem" ]] ||
    die "no CA in $ca_dir (ca.key and ca.pem); create it first: deploy/pki.sh $ca_dir ca"
fi

work="$(mktemp -d "$dir/.pki.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

# openssl ca needs a small database; it lives in the temporary directory, so
# every run is independent (serial numbers are random).
touch "$work/index.txt"
cat > "$work/openssl.cnf" <<EOF
[ ca ]
default_ca = schakel_demo

[ schakel_demo ]
database = $work/index.txt
new_certs_dir = $work
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none

[ policy_any ]
organizationName = optional
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ ext_ca ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ ext_org ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# Validity: from an hour ago (tolerates clocks a little apart) for the given
# number of days; or, expired, a day in 2020.
openssl_time() { date -u -d "@$1" +%Y%m%d%H%M%SZ; }
if (( expired )); then
  start="20200101000000Z"; end="20200102000000Z"
else
  now="$(date -u +%s)"
  start="$(openssl_time $((now - 3600)))"
  end="$(openssl_time $((now + days * 86400)))"
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>"$work/err" ||
  die "openssl genpkey failed: $(cat "$work/err")"

if [[ "$command" == ca ]]; then
  subject="/O=Schakel demo PKI/CN=Schakel demo CA $(openssl rand -hex 4)"
  extensions=ext_ca
else
  subject="/O=Schakel demo PKI/CN=$org_id"
  extensions=ext_org
fi
openssl req -new -config "$work/openssl.cnf" -key "$work/key.pem" -subj "$subject" \
  -out "$work/req.pem" 2>"$work/err" || die "openssl req failed: $(cat "$work/err")"

sign=(openssl ca -batch -notext -config "$work/openssl.cnf" -extensions "$extensions"
      -startdate "$start" -enddate "$end" -in "$work/req.pem" -out "$work/cert.pem")
if [[ "$command" == ca || $self_signed == 1 ]]; then
  sign+=(-selfsign -keyfile "$work/key.pem")
  # A self-signed leaf has no issuer key id to point to.
  [[ "$command" == org ]] && sed -i '/^authorityKeyIdentifier/d' "$work/openssl.cnf"
else
  sign+=(-cert "$ca_dir/ca.pem" -keyfile "$ca_dir/ca.key")
fi
"${sign[@]}" >"$work/err" 2>&1 || die "openssl ca failed: $(cat "$work/err")"

chmod 600 "$work/key.pem"
chmod 644 "$work/cert.pem"
mv -f -- "$work/key.pem" "$key"
mv -f -- "$work/cert.pem" "$cert"

what="CA"
if [[ "$command" == org ]]; then
  what="organisation $org_id"
  (( self_signed )) && what+=", self-signed"
  [[ -n "$other_ca" ]] && what+=", signed by the CA in $other_ca"
  (( expired )) && what+=", expired"
fi
echo "pki.sh: wrote $key (mode 0600) and $cert ($what; valid $start to $end)"
