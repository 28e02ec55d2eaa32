// Package migrations holds royalty's SQL schema, embedded in the binary, and applies it with
// golang-migrate.
//
// Every file holds exactly one DDL statement, because CockroachDB runs schema changes outside
// explicit transactions (docs/design.md §3), and every statement runs unchanged on PostgreSQL and
// CockroachDB. The engine is detected from the server's version string: PostgreSQL uses
// golang-migrate's pgx/v5 driver (advisory lock), CockroachDB its cockroachdb driver (a lock
// table, since advisory locks are no-ops there).
//
// A few statements want a different form on CockroachDB (a time-ordered index hash-sharded with
// USING HASH, which PostgreSQL does not have). Their variants live in cockroachdb/ under the
// name of the file they replace, and are applied instead of it on CockroachDB: the versions,
// and what each version means, are the same on both engines.
//
// Version ranges keep parallel work apart: 0001–0099 foundation (principals, keys),
// 0100–0199 ledger, 0200–0299 indexer, 0300–0399 services, 0400–0499 audit, 0800–0829 the
// attribution index in SQL and the replicas' followers, 0900–0949 feedback, 0950–0959 rater link
// codes.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/database/cockroachdb"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed *.sql cockroachdb/*.sql
var files embed.FS

// variantDir holds the CockroachDB variants of migrations.
const variantDir = "cockroachdb"

// Source returns the migrations applied on engine: the files of this directory, with the
// CockroachDB variants in place of the files they replace on CockroachDB.
func Source(engine Engine) fs.FS {
	if engine != CockroachDB {
		return onlySQL{files}
	}
	return overlay{base: files, dir: variantDir}
}

// onlySQL hides the variant directory from golang-migrate, which reads the top level only but
// logs what it cannot parse.
type onlySQL struct{ fsys embed.FS }

func (o onlySQL) Open(name string) (fs.File, error) { return o.fsys.Open(name) }

func (o onlySQL) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := o.fsys.ReadDir(name)
	if err != nil {
		return nil, err
	}
	out := entries[:0:0]
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, e)
		}
	}
	return out, nil
}

// overlay serves base's top-level files, each replaced by the file of the same name in dir when
// there is one.
type overlay struct {
	base embed.FS
	dir  string
}

func (o overlay) Open(name string) (fs.File, error) {
	if name != "." && !strings.Contains(name, "/") {
		if f, err := o.base.Open(path.Join(o.dir, name)); err == nil {
			return f, nil
		}
	}
	return o.base.Open(name)
}

func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) { return onlySQL{o.base}.ReadDir(name) }

// Engine is the kind of database server behind a DSN.
type Engine string

const (
	PostgreSQL  Engine = "postgresql"
	CockroachDB Engine = "cockroachdb"
)

// DetectEngine asks the server what it is.
func DetectEngine(ctx context.Context, db *sql.DB) (Engine, error) {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return "", fmt.Errorf("asking the database for its version: %w", err)
	}
	if strings.Contains(version, "CockroachDB") {
		return CockroachDB, nil
	}
	return PostgreSQL, nil
}

// Result says what Up did.
type Result struct {
	Engine  Engine
	From    uint // version before; 0 for an empty database
	To      uint // version after
	Applied int  // migrations applied by this call
}

// Up applies every pending migration to the database at dsn (a postgres:// URL or key=value
// DSN). It is idempotent: with nothing pending it changes nothing.
func Up(ctx context.Context, dsn string, log *slog.Logger) error {
	_, err := Apply(ctx, dsn, log)
	return err
}

// Apply is Up that also reports what it did.
func Apply(ctx context.Context, dsn string, log *slog.Logger) (Result, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return Result{}, fmt.Errorf("parsing database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	db.SetMaxOpenConns(2)

	engine, err := DetectEngine(ctx, db)
	if err != nil {
		return Result{}, err
	}
	var driver database.Driver
	switch engine {
	case CockroachDB:
		driver, err = cockroachdb.WithInstance(db, &cockroachdb.Config{})
	default:
		driver, err = migratepgx.WithInstance(db, &migratepgx.Config{})
	}
	if err != nil {
		return Result{}, fmt.Errorf("preparing migrations on %s: %w", engine, err)
	}
	src, err := iofs.New(Source(engine), ".")
	if err != nil {
		return Result{}, err
	}
	m, err := migrate.NewWithInstance("iofs", src, string(engine), driver)
	if err != nil {
		return Result{}, err
	}
	defer m.Close()
	res := Result{Engine: engine}
	res.From, _, err = versionOf(m)
	if err != nil {
		return res, err
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return res, fmt.Errorf("applying migrations: %w", err)
	}
	res.To, _, err = versionOf(m)
	if err != nil {
		return res, err
	}
	res.Applied = countBetween(res.From, res.To)
	log.Info("migrations applied", "engine", engine, "from", res.From, "to", res.To, "applied", res.Applied)
	return res, nil
}

func versionOf(m *migrate.Migrate) (uint, bool, error) {
	v, dirty, err := m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading migration version: %w", err)
	}
	if dirty {
		return v, dirty, fmt.Errorf("migration %d is marked dirty: a previous run failed half-way; fix the schema by hand and run `migrate force`", v)
	}
	return v, dirty, nil
}

// Latest is the highest migration version embedded in this binary.
func Latest() uint {
	var latest uint
	entries, _ := files.ReadDir(".")
	for _, e := range entries {
		var v uint
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest
}

func countBetween(from, to uint) int {
	n := 0
	entries, _ := files.ReadDir(".")
	for _, e := range entries {
		var v uint
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && strings.HasSuffix(e.Name(), ".up.sql") && v > from && v <= to {
			n++
		}
	}
	return n
}
