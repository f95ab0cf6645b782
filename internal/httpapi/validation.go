package httpapi

import (
	"regexp"
	"unicode"

	"github.com/go-playground/validator/v10"

	"github.com/wagateway/gateway/internal/auth"
)

// personName: letters (any script), spaces and - ' . as in the original, with at least one
// letter: a name of spaces alone would be trimmed to nothing.
var personName = regexp.MustCompile(`^[\p{L}\p{M} .'-]*\p{L}[\p{L}\p{M} .'-]*$`)

// registerValidations adds the gateway's own validation tags.
func registerValidations(v *validator.Validate) {
	must := func(tag string, fn validator.Func) {
		if err := v.RegisterValidation(tag, fn); err != nil {
			panic(err) // a programming error in a tag name, found by any test
		}
	}
	must("personname", func(fl validator.FieldLevel) bool { return personName.MatchString(fl.Field().String()) })
	must("pwchars", func(fl validator.FieldLevel) bool { return hasPasswordCharacters(fl.Field().String()) })
	must("sessionid", func(fl validator.FieldLevel) bool { return sessionIDShape.MatchString(fl.Field().String()) })
	must("notcommon", func(fl validator.FieldLevel) bool { return !auth.IsCommonPassword(fl.Field().String()) })
}

// hasPasswordCharacters: a lower-case and an upper-case letter, a digit and a special character.
func hasPasswordCharacters(s string) bool {
	var lower, upper, digit, special bool
	for _, r := range s {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r):
			special = true
		}
	}
	return lower && upper && digit && special
}
