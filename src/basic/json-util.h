/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

/* Writes s as a JSON string literal (quotes included): '"' and '\' escaped, control characters as
 * \n, \t or \uXXXX. */
void json_write_string(FILE *f, const char *s);
