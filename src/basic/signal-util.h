/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Blocks the signals gitlab-runner uses to cancel and returns a signalfd for them. */
int cancel_signals_block(void);
