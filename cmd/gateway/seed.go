package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/store"
)

// seed creates the administrator from ADMIN_EMAIL/ADMIN_PASSWORD and, in development, a demo
// user. It is idempotent: existing accounts are left as they are (an existing administrator
// account keeps its password; an existing user named by ADMIN_EMAIL is promoted).
func seed(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	logger, closeLog := app.NewLogger(cfg, io.Discard)
	defer closeLog.Close()
	if err := store.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		logger.Warn("could not ensure the database exists", "err", err)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.AutoMigrate {
		if err := app.Migrate(ctx, db, logger, func(m *store.Migrator) error { return m.Up(ctx) }); err != nil {
			return err
		}
	}
	passwords, err := auth.NewPasswords(cfg.BcryptRounds)
	if err != nil {
		return err
	}

	email, password := cfg.AdminEmail, cfg.AdminPassword
	development := cfg.Env != config.Production
	switch {
	case email == "" || password == "":
		if !development {
			return errors.New("seed: ADMIN_EMAIL and ADMIN_PASSWORD are required outside development")
		}
		if email == "" {
			email = "admin@example.com"
		}
		if password == "" {
			password = generatedPassword()
		}
	case len(password) < 12:
		return errors.New("seed: ADMIN_PASSWORD must be at least 12 characters")
	}

	seeded := []store.SeedAccount{{Name: "Administrator", Email: email, Password: password, Admin: true}}
	if development {
		seeded = append(seeded, store.SeedAccount{Name: "Demo User", Email: "demo@example.com", Password: generatedPassword()})
	}
	for _, acc := range seeded {
		hash, err := passwords.Hash(acc.Password)
		if err != nil {
			return err
		}
		acc.PasswordHash = hash
		created, err := store.SeedUser(ctx, db, acc)
		if err != nil {
			return err
		}
		role := "user"
		if acc.Admin {
			role = "administrator"
		}
		if !created {
			fmt.Fprintf(stdout, "%s %s already exists; left unchanged\n", role, acc.Email)
			continue
		}
		if acc.Password == cfg.AdminPassword {
			fmt.Fprintf(stdout, "created %s %s (password from ADMIN_PASSWORD)\n", role, acc.Email)
		} else {
			// Printed once so that a developer can sign in; never logged.
			fmt.Fprintf(stdout, "created %s %s with password %s\n", role, acc.Email, acc.Password)
		}
	}
	return nil
}

// generatedPassword meets the password rules: letters of both cases, digits and a symbol.
func generatedPassword() string {
	return "Wg-" + auth.NewOpaqueToken()[:16] + "9a!"
}
