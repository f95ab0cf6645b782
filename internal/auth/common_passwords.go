package auth

import "strings"

// commonPasswords are passwords that pass the character rules yet appear at the top of every
// breach list; they are refused at registration and on change.
var commonPasswords = func() map[string]struct{} {
	list := []string{
		"password1!", "password123!", "password@123", "password1@", "p@ssw0rd", "p@ssword1", "p@ssw0rd1",
		"p@ssw0rd123", "passw0rd!", "password!1", "password1234!", "qwerty123!", "qwerty@123", "qwerty1!",
		"welcome1!", "welcome123!", "welcome@123", "admin123!", "admin@123", "admin1234!", "abc123!@#",
		"letmein1!", "iloveyou1!", "monkey123!", "dragon123!", "football1!", "baseball1!", "sunshine1!",
		"princess1!", "trustno1!", "changeme1!", "changeme123!", "test1234!", "test@1234", "test@123",
		"secret123!", "summer2024!", "summer2025!", "summer2026!", "winter2024!", "winter2025!", "winter2026!",
		"spring2025!", "autumn2025!", "january2026!", "master123!", "login123!", "hello123!", "hello@123",
		"superman1!", "batman123!", "starwars1!", "whatsapp1!", "whatsapp123!", "whatsapp@123",
		"qwertyuiop1!", "1q2w3e4r!", "1qaz2wsx!", "zaq12wsx!", "aa123456!", "abcd1234!", "abcd@1234",
		"pass@123", "pass@1234", "pa$$w0rd", "pa$$word1", "user1234!", "india@123", "indonesia1!",
	}
	m := make(map[string]struct{}, len(list))
	for _, p := range list {
		m[p] = struct{}{}
	}
	return m
}()

// IsCommonPassword reports whether password is on the list of common passwords, ignoring case.
func IsCommonPassword(password string) bool {
	_, ok := commonPasswords[strings.ToLower(password)]
	return ok
}
