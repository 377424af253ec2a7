// SPDX-License-Identifier: GPL-3.0-or-later
// The device's account rules (docs/rest-api.md, "User names and passwords"), checked before sending so that the
// form can point at the field at once; the device checks them again.

export const USERNAME_RULE =
  '1–32 characters: letters, digits, dot, underscore and dash, starting with a letter or digit.';
export const PASSWORD_RULE =
  '10–128 bytes (a character outside ASCII counts as 2–4), and it must not contain the user name.';

export function usernameProblem(name: string): string | null {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(name) ? null : `A user name is ${USERNAME_RULE.toLowerCase()}`;
}

export function passwordProblem(password: string, username: string): string | null {
  const bytes = new TextEncoder().encode(password).length;
  if (bytes < 10) return 'The password is too short: at least 10 bytes.';
  if (bytes > 128) return 'The password is too long: at most 128 bytes.';
  if (username && password.toLowerCase().includes(username.toLowerCase())) {
    return 'The password must not contain the user name.';
  }
  return null;
}
