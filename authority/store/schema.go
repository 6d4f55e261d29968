package store

// migrations are the schema, one version per entry, applied in order at
// open inside one transaction each. Never edit a released version: add the
// next one. Times are Unix seconds (UTC), hashes SHA-256, codes the binary
// COSE bytes, reservation ids the 32-bit value of the 4-byte id.
var migrations = []string{
	1: `
CREATE TABLE meta (
	id             INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	name           TEXT NOT NULL,
	created_at     BIGINT NOT NULL,
	history_count  BIGINT NOT NULL CHECK (history_count >= 0),
	history_head   {{blob}} NOT NULL,
	last_issued_at BIGINT NOT NULL
);
CREATE TABLE orgs (
	id         {{id}},
	name       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);
CREATE TABLE accounts (
	id            {{id}},
	org_id        BIGINT NOT NULL REFERENCES orgs (id),
	name          TEXT NOT NULL,
	removal_limit INTEGER NOT NULL CHECK (removal_limit >= 0),
	created_at    BIGINT NOT NULL,
	UNIQUE (org_id, name)
);
CREATE TABLE lots (
	id                {{id}},
	account_id        BIGINT NOT NULL REFERENCES accounts (id),
	tag               TEXT NOT NULL,
	kind              SMALLINT NOT NULL CHECK (kind BETWEEN 0 AND 3),
	start_at          BIGINT NOT NULL,
	end_at            BIGINT NOT NULL,
	export_controlled BOOLEAN NOT NULL,
	initial_count     BIGINT NOT NULL,
	count             BIGINT NOT NULL,
	held              BIGINT NOT NULL,
	origin            TEXT NOT NULL,
	created_at        BIGINT NOT NULL,
	CHECK (held >= 0 AND held <= count AND count >= 0 AND count <= initial_count)
);
CREATE INDEX lots_by_account_tag ON lots (account_id, tag);
CREATE TABLE transfers (
	id       {{id}},
	from_lot BIGINT NOT NULL REFERENCES lots (id),
	to_lot   BIGINT NOT NULL REFERENCES lots (id),
	count    BIGINT NOT NULL CHECK (count > 0),
	at       BIGINT NOT NULL
);
CREATE TABLE instances (
	id             {{id}},
	udi            TEXT NOT NULL,
	public_key     {{blob}} NOT NULL,
	account_id     BIGINT NOT NULL REFERENCES accounts (id),
	state          TEXT NOT NULL CHECK (state IN ('registered', 'reserved', 'returned', 'removed')),
	name           TEXT NOT NULL,
	system         {{blob}},
	created_at     BIGINT NOT NULL,
	removed_at     BIGINT NOT NULL,
	removal_reason TEXT NOT NULL
);
CREATE UNIQUE INDEX instances_live_udi ON instances (udi) WHERE state <> 'removed';
CREATE INDEX instances_by_name ON instances (name) WHERE name <> '';
CREATE TABLE reservations (
	id          {{key}},
	instance_id BIGINT NOT NULL REFERENCES instances (id),
	account_id  BIGINT NOT NULL REFERENCES accounts (id),
	status      TEXT NOT NULL CHECK (status IN ('issued', 'installed', 'in transition', 'returned', 'removed')),
	serial      BIGINT NOT NULL CHECK (serial >= 1),
	confirmed   BIGINT NOT NULL CHECK (confirmed >= 0 AND confirmed <= serial),
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	closed_at   BIGINT NOT NULL,
	close_hash  {{blob}},
	seq         BIGINT NOT NULL UNIQUE,
	CHECK (id >= 0 AND id <= 4294967295)
);
CREATE INDEX reservations_by_instance ON reservations (instance_id);
CREATE INDEX reservations_removed ON reservations (account_id, closed_at) WHERE status = 'removed';
CREATE TABLE grants (
	reservation_id BIGINT NOT NULL REFERENCES reservations (id),
	serial         BIGINT NOT NULL CHECK (serial >= 1),
	lot_id         BIGINT NOT NULL REFERENCES lots (id),
	tag            TEXT NOT NULL,
	component      TEXT NOT NULL,
	count          BIGINT NOT NULL CHECK (count > 0),
	PRIMARY KEY (reservation_id, serial, lot_id, component)
){{without_rowid}};
CREATE TABLE issued (
	reservation_id BIGINT NOT NULL REFERENCES reservations (id),
	serial         BIGINT NOT NULL CHECK (serial >= 1),
	code           {{blob}} NOT NULL,
	hash           {{blob}} NOT NULL,
	request_hash   {{blob}} UNIQUE,
	nonce          {{blob}},
	issued_at      BIGINT NOT NULL,
	install_by     BIGINT NOT NULL,
	key_id         TEXT NOT NULL,
	PRIMARY KEY (reservation_id, serial)
){{without_rowid}};
CREATE TABLE received (
	hash           {{blob}} NOT NULL PRIMARY KEY,
	kind           TEXT NOT NULL,
	reservation_id BIGINT NOT NULL REFERENCES reservations (id),
	serial         BIGINT NOT NULL,
	at             BIGINT NOT NULL
);
CREATE TABLE history (
	id        {{key}},
	at        BIGINT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	subject   TEXT NOT NULL,
	account   TEXT NOT NULL,
	instance  TEXT NOT NULL,
	code_hash {{blob}},
	detail    TEXT NOT NULL,
	prev      {{blob}} NOT NULL
);
CREATE INDEX history_by_instance ON history (instance);
CREATE INDEX history_by_account ON history (account);
`,
	// Fork detection: the journal tag of each return code applied, the
	// usage reports imported with the journal state they carried, and per
	// instance the journal head the last one left and the forks seen.
	2: `
ALTER TABLE received ADD COLUMN journal {{blob}};
CREATE TABLE usage_reports (
	id            {{id}},
	hash          {{blob}} NOT NULL UNIQUE,
	instance_id   BIGINT NOT NULL REFERENCES instances (id),
	journal_count BIGINT NOT NULL CHECK (journal_count >= 0),
	journal_head  {{blob}},
	previous_head {{blob}},
	period_from   BIGINT NOT NULL,
	period_to     BIGINT NOT NULL,
	at            BIGINT NOT NULL,
	fork          BOOLEAN NOT NULL
);
CREATE INDEX usage_reports_by_instance ON usage_reports (instance_id);
CREATE TABLE journals (
	instance_id BIGINT NOT NULL PRIMARY KEY REFERENCES instances (id),
	count       BIGINT NOT NULL CHECK (count >= 0),
	head        {{blob}},
	report_hash {{blob}},
	updated_at  BIGINT NOT NULL,
	forks       BIGINT NOT NULL CHECK (forks >= 0),
	first_fork  BIGINT NOT NULL,
	last_fork   BIGINT NOT NULL
);
`,
	// Products, license keys and wallets. A product is software an
	// organization runs, of a kind (software) that license keys name; its
	// wallet holds lots of licenses that redeemed keys brought, each kept
	// five years. A license key is stored by its hash only, so that a copy
	// of the ledger redeems nothing; redemptions are keyed by that hash, so
	// that no key is ever redeemed twice, whichever process tries.
	3: `
CREATE TABLE products (
	id         {{id}},
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	name       TEXT NOT NULL,
	software   TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (org_id, name)
);
CREATE TABLE license_keys (
	id        {{id}},
	hash      {{blob}} NOT NULL UNIQUE CHECK (length(hash) = 32),
	software  TEXT NOT NULL,
	extension BOOLEAN NOT NULL,
	years     INTEGER NOT NULL CHECK (years BETWEEN 1 AND 5),
	issued_at BIGINT NOT NULL,
	issued_by TEXT NOT NULL
);
CREATE TABLE license_key_lines (
	key_id BIGINT NOT NULL REFERENCES license_keys (id),
	tag    TEXT NOT NULL,
	count  BIGINT NOT NULL CHECK (count > 0),
	PRIMARY KEY (key_id, tag)
){{without_rowid}};
CREATE TABLE redemptions (
	key_hash   {{blob}} NOT NULL PRIMARY KEY REFERENCES license_keys (hash),
	product_id BIGINT NOT NULL REFERENCES products (id),
	at         BIGINT NOT NULL,
	actor      TEXT NOT NULL
);
CREATE TABLE wallet_lots (
	id            {{id}},
	product_id    BIGINT NOT NULL REFERENCES products (id),
	tag           TEXT NOT NULL,
	initial_count BIGINT NOT NULL CHECK (initial_count > 0),
	count         BIGINT NOT NULL,
	entered_at    BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	key_hash      {{blob}} NOT NULL REFERENCES redemptions (key_hash),
	CHECK (count >= 0 AND count <= initial_count AND expires_at > entered_at),
	UNIQUE (key_hash, tag)
);
CREATE INDEX wallet_lots_by_product ON wallet_lots (product_id, expires_at);
`,
	// Subscriptions. An organization's subscription years run from its
	// anchor (a UTC midnight, set by the first product it subscribes);
	// each subscribed product starts on a day of one of them. Allocations
	// move wallet licenses to a subscription year, or, from extension
	// keys, to one hardware component; allocation_lots says which wallet
	// lots each took from, after any credit back. Systems registered to a
	// product (by their system description) are instances of the ledger;
	// their hardware components are registered once, ledger-wide.
	4: `
CREATE TABLE subscription_anchors (
	org_id BIGINT NOT NULL PRIMARY KEY REFERENCES orgs (id),
	anchor BIGINT NOT NULL
);
CREATE TABLE subscriptions (
	product_id BIGINT NOT NULL PRIMARY KEY REFERENCES products (id),
	started_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	actor      TEXT NOT NULL
);
CREATE TABLE allocations (
	id          {{id}},
	product_id  BIGINT NOT NULL REFERENCES products (id),
	year        INTEGER NOT NULL CHECK (year >= 0),
	component   TEXT NOT NULL,
	tag         TEXT NOT NULL,
	count       BIGINT NOT NULL CHECK (count > 0),
	credited    BIGINT NOT NULL CHECK (credited >= 0 AND credited <= count),
	covers_from BIGINT NOT NULL,
	demand      BIGINT NOT NULL CHECK (demand >= 0),
	met         BOOLEAN NOT NULL,
	at          BIGINT NOT NULL,
	actor       TEXT NOT NULL,
	CHECK ((year = 0) <> (component = ''))
);
CREATE INDEX allocations_by_product ON allocations (product_id, year);
CREATE TABLE allocation_lots (
	allocation_id BIGINT NOT NULL REFERENCES allocations (id),
	lot_id        BIGINT NOT NULL REFERENCES wallet_lots (id),
	count         BIGINT NOT NULL CHECK (count > 0),
	PRIMARY KEY (allocation_id, lot_id)
){{without_rowid}};
CREATE TABLE product_systems (
	instance_id   BIGINT NOT NULL PRIMARY KEY REFERENCES instances (id),
	product_id    BIGINT NOT NULL REFERENCES products (id),
	registered_at BIGINT NOT NULL
);
CREATE INDEX product_systems_by_product ON product_systems (product_id);
CREATE TABLE hardware (
	component     TEXT NOT NULL PRIMARY KEY,
	product_id    BIGINT NOT NULL REFERENCES products (id),
	instance_id   BIGINT NOT NULL REFERENCES instances (id),
	model         TEXT NOT NULL,
	tag           TEXT NOT NULL,
	registered_at BIGINT NOT NULL
);
CREATE INDEX hardware_by_product ON hardware (product_id);
`,
	// Activation-code pools for device fleets. An organization buys
	// activation codes in packages (code_specs: a name and a validity);
	// a purchase (code_batches) lands in the organization's unallocated
	// pool (product_id NULL) or in one product; code_allocations move
	// unallocated codes to a product, irreversibly. A product (fleet
	// product, by its product key) holds codes of one spec; total and used
	// count its codes, so that consuming one is a guarded update. Each
	// device consumes codes (consumptions, in order per device); its row
	// holds the window of the latest, and its first activation (the
	// first code it consumed: consumptions holds the later ones, from seq
	// 2, so that activating a fleet writes one row per device). Gateways
	// are the instances that carry activations; activations keeps each
	// signed answer by the request it answers, so that a request
	// processed twice gets the same answer and consumes nothing more.
	5: `
CREATE TABLE code_specs (
	id         {{id}},
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	name       TEXT NOT NULL,
	years      INTEGER NOT NULL CHECK (years >= 0),
	months     INTEGER NOT NULL CHECK (months >= 0),
	days       INTEGER NOT NULL CHECK (days >= 0),
	created_at BIGINT NOT NULL,
	CHECK (years + months + days > 0),
	UNIQUE (org_id, name)
);
CREATE TABLE fleet_products (
	id         {{id}},
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	pk         TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	spec_id    BIGINT REFERENCES code_specs (id),
	auto_renew BOOLEAN NOT NULL,
	total      BIGINT NOT NULL,
	used       BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	deleted_at BIGINT NOT NULL,
	CHECK (used >= 0 AND used <= total),
	UNIQUE (org_id, name)
);
CREATE TABLE code_batches (
	id         {{id}},
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	spec_id    BIGINT NOT NULL REFERENCES code_specs (id),
	product_id BIGINT REFERENCES fleet_products (id),
	count      BIGINT NOT NULL CHECK (count > 0),
	reference  TEXT NOT NULL,
	at         BIGINT NOT NULL,
	actor      TEXT NOT NULL
);
CREATE INDEX code_batches_by_org ON code_batches (org_id);
CREATE TABLE code_allocations (
	id         {{id}},
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	spec_id    BIGINT NOT NULL REFERENCES code_specs (id),
	product_id BIGINT NOT NULL REFERENCES fleet_products (id),
	count      BIGINT NOT NULL CHECK (count > 0),
	at         BIGINT NOT NULL,
	actor      TEXT NOT NULL
);
CREATE INDEX code_allocations_by_org ON code_allocations (org_id);
CREATE TABLE gateways (
	id         {{id}},
	udi        TEXT NOT NULL UNIQUE,
	public_key {{blob}} NOT NULL,
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	created_at BIGINT NOT NULL
);
CREATE TABLE activations (
	id           {{id}},
	request_hash {{blob}} NOT NULL UNIQUE,
	gateway_id   BIGINT NOT NULL REFERENCES gateways (id),
	at           BIGINT NOT NULL,
	code         {{blob}} NOT NULL
);
CREATE TABLE devices (
	id           {{key}},
	product_id   BIGINT NOT NULL REFERENCES fleet_products (id),
	dk           TEXT NOT NULL,
	gateway_id   BIGINT NOT NULL REFERENCES gateways (id),
	activated_at BIGINT NOT NULL,
	first_until  BIGINT NOT NULL,
	first_source BIGINT NOT NULL REFERENCES activations (id),
	valid_from   BIGINT NOT NULL,
	valid_until  BIGINT NOT NULL,
	consumed     BIGINT NOT NULL CHECK (consumed > 0),
	auto_renew   BOOLEAN NOT NULL,
	lapsed       BOOLEAN NOT NULL,
	deleted_at   BIGINT NOT NULL,
	CHECK (valid_until > valid_from AND first_until > activated_at),
	UNIQUE (product_id, dk)
);
CREATE INDEX devices_by_gateway ON devices (gateway_id);
CREATE INDEX devices_due ON devices (valid_until) WHERE deleted_at = 0 AND NOT lapsed;
CREATE TABLE consumptions (
	device_id   BIGINT NOT NULL REFERENCES devices (id),
	seq         BIGINT NOT NULL CHECK (seq > 1),
	at          BIGINT NOT NULL,
	valid_from  BIGINT NOT NULL,
	valid_until BIGINT NOT NULL,
	cause       SMALLINT NOT NULL CHECK (cause BETWEEN 2 AND 3),
	source      BIGINT REFERENCES activations (id),
	PRIMARY KEY (device_id, seq)
){{without_rowid}};
CREATE TABLE renew_blocklist (
	product_id BIGINT NOT NULL REFERENCES fleet_products (id),
	dk         TEXT NOT NULL,
	at         BIGINT NOT NULL,
	PRIMARY KEY (product_id, dk)
){{without_rowid}};
CREATE TABLE alert_recipients (
	org_id  BIGINT NOT NULL REFERENCES orgs (id),
	address TEXT NOT NULL,
	at      BIGINT NOT NULL,
	PRIMARY KEY (org_id, address)
){{without_rowid}};
CREATE TABLE alert_thresholds (
	org_id BIGINT NOT NULL PRIMARY KEY REFERENCES orgs (id),
	below  BIGINT NOT NULL CHECK (below >= 0)
);
`,
	// Releases: the files of software releases the vendor registered, one
	// row a file, with the software whose products entitle an
	// organization to them. A file name names one file in the whole
	// ledger: the files of a download manifest sit in one folder.
	6: `
CREATE TABLE releases (
	id         {{id}},
	name       TEXT NOT NULL,
	version    TEXT NOT NULL,
	file_name  TEXT NOT NULL UNIQUE,
	sha256     {{blob}} NOT NULL CHECK (length(sha256) = 32),
	size       BIGINT NOT NULL CHECK (size >= 0),
	created_at BIGINT NOT NULL,
	actor      TEXT NOT NULL
);
CREATE TABLE release_software (
	release_id BIGINT NOT NULL REFERENCES releases (id),
	software   TEXT NOT NULL,
	PRIMARY KEY (release_id, software)
){{without_rowid}};
`,
	// The licensing portal. People act with one role each: at the vendor,
	// in an organization (admin, viewer) or for a partner; an
	// organization delegates its management to partners until it revokes
	// them. Serial numbers (kept by hash, like license keys) register
	// into a license key of an organization; a registration records who
	// registered it and its support. Customers set custom fields on their
	// licenses and share them with other contacts.
	7: `
CREATE TABLE people (
	id         {{id}},
	email      TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL CHECK (role IN ('vendor', 'admin', 'viewer', 'partner')),
	org_id     BIGINT REFERENCES orgs (id),
	partner    TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	CHECK ((role IN ('admin', 'viewer')) = (org_id IS NOT NULL)),
	CHECK ((role = 'partner') = (partner <> ''))
);
CREATE TABLE delegations (
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	partner    TEXT NOT NULL,
	granted_at BIGINT NOT NULL,
	granted_by TEXT NOT NULL,
	revoked_at BIGINT NOT NULL,
	revoked_by TEXT NOT NULL,
	PRIMARY KEY (org_id, partner)
);
CREATE TABLE serials (
	hash          {{blob}} NOT NULL PRIMARY KEY,
	software      TEXT NOT NULL,
	tag           TEXT NOT NULL,
	count         BIGINT NOT NULL CHECK (count > 0),
	years         INTEGER NOT NULL CHECK (years > 0),
	support_until BIGINT NOT NULL,
	issued_at     BIGINT NOT NULL,
	issued_by     TEXT NOT NULL,
	org_id        BIGINT REFERENCES orgs (id),
	key_hash      {{blob}} REFERENCES license_keys (hash),
	registered_at BIGINT NOT NULL,
	CHECK ((org_id IS NULL) = (key_hash IS NULL))
);
CREATE TABLE registrations (
	key_hash        {{blob}} NOT NULL PRIMARY KEY REFERENCES license_keys (hash),
	org_id          BIGINT NOT NULL REFERENCES orgs (id),
	serial_hash     {{blob}} REFERENCES serials (hash),
	contact         TEXT NOT NULL,
	email           TEXT NOT NULL,
	company         TEXT NOT NULL,
	support_contact TEXT NOT NULL,
	support_until   BIGINT NOT NULL,
	at              BIGINT NOT NULL,
	actor           TEXT NOT NULL
);
CREATE INDEX registrations_by_org ON registrations (org_id, at);
CREATE TABLE license_fields (
	key_hash {{blob}} NOT NULL REFERENCES registrations (key_hash),
	name     TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (key_hash, name)
){{without_rowid}};
CREATE TABLE license_shares (
	key_hash {{blob}} NOT NULL REFERENCES registrations (key_hash),
	email    TEXT NOT NULL,
	role     TEXT NOT NULL CHECK (role IN ('viewer', 'manager')),
	at       BIGINT NOT NULL,
	actor    TEXT NOT NULL,
	PRIMARY KEY (key_hash, email)
){{without_rowid}};
`,
	// Upgrades: notifications (kept by hash) that let licenses of one
	// software and tag become another's, and what each registered key
	// converted, with the key issued for it.
	10: `
CREATE TABLE upgrade_notices (
	hash          {{blob}} NOT NULL PRIMARY KEY,
	from_software TEXT NOT NULL,
	from_tag      TEXT NOT NULL,
	to_software   TEXT NOT NULL,
	to_tag        TEXT NOT NULL,
	years         INTEGER NOT NULL CHECK (years > 0),
	quantity      BIGINT NOT NULL CHECK (quantity > 0),
	used          BIGINT NOT NULL CHECK (used >= 0 AND used <= quantity),
	org_id        BIGINT REFERENCES orgs (id),
	issued_at     BIGINT NOT NULL,
	issued_by     TEXT NOT NULL
);
CREATE TABLE key_conversions (
	key_hash    {{blob}} NOT NULL REFERENCES registrations (key_hash),
	notice_hash {{blob}} NOT NULL REFERENCES upgrade_notices (hash),
	count       BIGINT NOT NULL CHECK (count > 0),
	new_key     {{blob}} NOT NULL REFERENCES license_keys (hash),
	at          BIGINT NOT NULL,
	actor       TEXT NOT NULL,
	PRIMARY KEY (key_hash, notice_hash, new_key)
);
`,
	// OEM vouchers: what the vendor issued to an OEM partner (kept by
	// hash, like serial numbers), each converted once into a license key
	// registered to an end customer, with who converted it.
	8: `
CREATE TABLE vouchers (
	id        {{id}},
	hash      {{blob}} NOT NULL UNIQUE,
	oem       TEXT NOT NULL CHECK (oem <> ''),
	software  TEXT NOT NULL,
	tag       TEXT NOT NULL,
	count     BIGINT NOT NULL CHECK (count > 0),
	years     INTEGER NOT NULL CHECK (years > 0),
	issued_at BIGINT NOT NULL,
	issued_by TEXT NOT NULL,
	org_id    BIGINT REFERENCES orgs (id),
	key_hash  {{blob}} UNIQUE REFERENCES registrations (key_hash),
	used_at   BIGINT NOT NULL,
	used_by   TEXT NOT NULL,
	CHECK ((org_id IS NULL) = (key_hash IS NULL)),
	CHECK ((org_id IS NULL) = (used_by = ''))
);
CREATE INDEX vouchers_by_oem ON vouchers (oem, id);
`,
	// Flexible agreements: an organization draws licenses of the software
	// and tags an agreement caps, up to each cap, during its term (from
	// the day from_at, included, to the day to_at, excluded). A cap's
	// drawn count grows by guarded update only, and the CHECK keeps it
	// within the cap; each draw is a license key registered to the
	// organization.
	9: `
CREATE TABLE agreements (
	id         {{id}},
	org_id     BIGINT NOT NULL REFERENCES orgs (id),
	name       TEXT NOT NULL,
	from_at    BIGINT NOT NULL,
	to_at      BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL,
	CHECK (to_at > from_at),
	UNIQUE (org_id, name)
);
CREATE TABLE agreement_caps (
	agreement_id BIGINT NOT NULL REFERENCES agreements (id),
	software     TEXT NOT NULL,
	tag          TEXT NOT NULL,
	cap          BIGINT NOT NULL CHECK (cap > 0),
	drawn        BIGINT NOT NULL,
	CHECK (drawn >= 0 AND drawn <= cap),
	PRIMARY KEY (agreement_id, tag)
){{without_rowid}};
CREATE TABLE agreement_draws (
	id           {{id}},
	agreement_id BIGINT NOT NULL,
	tag          TEXT NOT NULL,
	count        BIGINT NOT NULL CHECK (count > 0),
	years        INTEGER NOT NULL CHECK (years > 0),
	key_hash     {{blob}} NOT NULL UNIQUE REFERENCES registrations (key_hash),
	at           BIGINT NOT NULL,
	actor        TEXT NOT NULL,
	FOREIGN KEY (agreement_id, tag) REFERENCES agreement_caps (agreement_id, tag)
);
CREATE INDEX agreement_draws_by_agreement ON agreement_draws (agreement_id, id);
`,
	// Registration tokens of the connected mode: kept by hash, each for
	// one account, with an optional expiry and use limit.
	11: `
CREATE TABLE registration_tokens (
	hash           {{blob}} NOT NULL PRIMARY KEY,
	account_id     BIGINT NOT NULL REFERENCES accounts (id),
	created_at     BIGINT NOT NULL,
	created_by     TEXT NOT NULL,
	expires_at     BIGINT NOT NULL,
	max_uses       BIGINT NOT NULL CHECK (max_uses >= 0),
	uses           BIGINT NOT NULL CHECK (uses >= 0 AND (max_uses = 0 OR uses <= max_uses)),
	export_allowed BOOLEAN NOT NULL,
	revoked_at     BIGINT NOT NULL,
	revoked_by     TEXT NOT NULL
);
CREATE INDEX registration_tokens_by_account ON registration_tokens (account_id);
`,
	// Connected mode: the instances registered with a token (one row per
	// instance, kept when it deregisters), what each serial of their
	// reservations borrowed from a higher tier, the export-controlled
	// licenses granted on request, and the tier ladders (a tag in at most
	// one ladder).
	12: `
CREATE TABLE connected (
	instance_id     BIGINT NOT NULL PRIMARY KEY REFERENCES instances (id),
	account_id      BIGINT NOT NULL REFERENCES accounts (id),
	token_hash      {{blob}} NOT NULL REFERENCES registration_tokens (hash),
	request_hash    {{blob}} NOT NULL,
	nonce           {{blob}} NOT NULL,
	registered_at   BIGINT NOT NULL,
	renewed_at      BIGINT NOT NULL,
	expires_at      BIGINT NOT NULL,
	export_allowed  BOOLEAN NOT NULL,
	hostname        TEXT NOT NULL,
	addresses       TEXT NOT NULL,
	last_seq        BIGINT NOT NULL CHECK (last_seq >= 0),
	last_contact    BIGINT NOT NULL,
	reservation_id  BIGINT NOT NULL CHECK (reservation_id >= 0 AND reservation_id <= 4294967295),
	lapses_at       BIGINT NOT NULL,
	answer          TEXT NOT NULL,
	deregistered_at BIGINT NOT NULL,
	CHECK (renewed_at >= registered_at AND expires_at > renewed_at)
);
CREATE INDEX connected_by_account ON connected (account_id);
CREATE TABLE connected_borrows (
	reservation_id BIGINT NOT NULL REFERENCES reservations (id),
	serial         BIGINT NOT NULL CHECK (serial >= 1),
	lot_id         BIGINT NOT NULL REFERENCES lots (id),
	tag            TEXT NOT NULL,
	count          BIGINT NOT NULL CHECK (count > 0),
	PRIMARY KEY (reservation_id, serial, lot_id, tag)
){{without_rowid}};
CREATE TABLE connected_exports (
	instance_id BIGINT NOT NULL REFERENCES instances (id),
	tag         TEXT NOT NULL,
	count       BIGINT NOT NULL CHECK (count > 0),
	PRIMARY KEY (instance_id, tag)
){{without_rowid}};
CREATE TABLE tier_ladders (
	name       TEXT NOT NULL PRIMARY KEY,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL
);
CREATE TABLE tier_steps (
	ladder TEXT NOT NULL REFERENCES tier_ladders (name),
	step   INTEGER NOT NULL CHECK (step >= 0),
	tag    TEXT NOT NULL UNIQUE,
	PRIMARY KEY (ladder, step)
){{without_rowid}};
`,
	// Satellites. On the vendor's ledger: the satellites registered (by
	// their trust file), the accounts delegated to each (one satellite an
	// account), and every sync request answered, kept whole. On a
	// satellite's ledger: the vendor it syncs with, the sync requests it
	// made (with the history event that recorded each, where the next
	// request's period starts) and the answers it imported, and, for each
	// of its lots, the
	// vendor's lot it mirrors, the count the last answer gave it
	// (target) and what syncs took out of it (shrunk: a lot's count is
	// its initial count less its transfers and shrunk).
	13: `
CREATE TABLE satellites (
	id         {{id}},
	name       TEXT NOT NULL,
	trust      {{blob}} NOT NULL,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL,
	removed_at BIGINT NOT NULL,
	removed_by TEXT NOT NULL
);
CREATE UNIQUE INDEX satellites_live_name ON satellites (name) WHERE removed_at = 0;
CREATE TABLE satellite_accounts (
	account_id   BIGINT NOT NULL PRIMARY KEY REFERENCES accounts (id),
	satellite_id BIGINT NOT NULL REFERENCES satellites (id),
	since        BIGINT NOT NULL
);
CREATE INDEX satellite_accounts_by_satellite ON satellite_accounts (satellite_id);
CREATE TABLE satellite_syncs (
	satellite_id BIGINT NOT NULL REFERENCES satellites (id),
	sequence     BIGINT NOT NULL CHECK (sequence >= 1),
	request      {{blob}} NOT NULL,
	request_hash {{blob}} NOT NULL UNIQUE,
	answer_hash  {{blob}} NOT NULL UNIQUE,
	lots         BIGINT NOT NULL CHECK (lots >= 0),
	answered_at  BIGINT NOT NULL,
	PRIMARY KEY (satellite_id, sequence)
);
CREATE TABLE satellite_self (
	id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	vendor_trust {{blob}} NOT NULL,
	vendor       TEXT NOT NULL,
	created_at   BIGINT NOT NULL
);
CREATE TABLE sync_exports (
	sequence BIGINT NOT NULL PRIMARY KEY CHECK (sequence >= 1),
	hash     {{blob}} NOT NULL UNIQUE,
	from_at  BIGINT NOT NULL,
	made_at  BIGINT NOT NULL CHECK (made_at >= from_at),
	event    BIGINT NOT NULL CHECK (event >= 1)
);
CREATE TABLE sync_imports (
	sequence    BIGINT NOT NULL PRIMARY KEY REFERENCES sync_exports (sequence),
	hash        {{blob}} NOT NULL UNIQUE,
	issued_at   BIGINT NOT NULL,
	imported_at BIGINT NOT NULL
);
CREATE TABLE synced_lots (
	lot_id     BIGINT NOT NULL PRIMARY KEY REFERENCES lots (id),
	vendor_lot BIGINT NOT NULL UNIQUE CHECK (vendor_lot >= 1),
	target     BIGINT NOT NULL CHECK (target >= 0),
	shrunk     BIGINT NOT NULL CHECK (shrunk >= 0)
);
`,
	// Export control by account: an account the vendor denies
	// export-controlled licenses reserves none, and its instances
	// register without them whatever their token says.
	14: `
ALTER TABLE accounts ADD COLUMN export_allowed BOOLEAN NOT NULL DEFAULT TRUE;
`,
	// Web sign-in: a person's password, as its argon2id hash in the PHC
	// string format (one per person, replaced when set again), and the
	// sessions of people signed in, kept by the SHA-256 of their id
	// (the id itself is only in the browser's cookie), so that every
	// server on one ledger knows them. Sessions are deleted when they
	// end; nothing else refers to them.
	15: `
CREATE TABLE passwords (
	person_id BIGINT NOT NULL PRIMARY KEY REFERENCES people (id),
	hash      TEXT NOT NULL,
	set_at    BIGINT NOT NULL,
	set_by    TEXT NOT NULL
);
CREATE TABLE sessions (
	hash       {{blob}} NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
	person_id  BIGINT NOT NULL REFERENCES people (id),
	created_at BIGINT NOT NULL,
	seen_at    BIGINT NOT NULL,
	CHECK (seen_at >= created_at)
);
CREATE INDEX sessions_by_person ON sessions (person_id);
`,
	// Form marks: the one-time marks of the web portal's forms that issue
	// something shown once, kept by their SHA-256, so that a form sent
	// again is refused by every server on the ledger, and after a
	// restart. Deleted after FormMarkKeep; nothing refers to them.
	16: `
CREATE TABLE form_marks (
	hash {{blob}} NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
	at   BIGINT NOT NULL
);
CREATE INDEX form_marks_by_time ON form_marks (at);
`,
}
