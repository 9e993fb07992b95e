/* asm.h - Lockstep assembly text: the assembler and the disassembler.
 *
 * A program in text, one statement per line; ';' or '#' starts a comment, a line ending in
 * '\' continues on the next one:
 *
 *   .target host                 ; preset (host or tsp); must come first
 *   .set lanes 16                ; one target field (ls_target_set keys), before any label
 *   .memory 4096                 ; SRAM bytes used; default: everything touched, rounded to 64
 *   .input  a f32 [4,16] @0      ; name dtype shape @address ([] is a scalar)
 *   .output y f32 [4,16] @512
 *   .const  @1024 f32 1.0 2.0    ; typed values, little-endian; or: .const @2048 hex 00ff10ab
 *   mem0:                        ; queue label <unit><index>: the instructions below go there
 *     @0 read.f32 e0, [a], n=4   ; @cycle is optional: without it, when the queue is free
 *        add.f32 w0, e0, e1      ; streams: e<k> east, w<k> west; addresses [123] [a] [a+64]
 *
 * Names that are not plain identifiers ([A-Za-z_][A-Za-z0-9_.]*) are written as strings:
 * "x y" with the escapes \" \\ \xHH. Tensors must be declared before instructions use them.
 * The assembler checks syntax and everything needed to build the fields; what the program
 * means (types an op accepts, timing, bounds) is the runtime verifier's business, so every
 * program ls_prog_decode accepts and whose fields are representable round-trips exactly. */
#ifndef LOCKSTEP_ASM_H
#define LOCKSTEP_ASM_H

#include <stddef.h>
#include <stdio.h>

#include "isa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Assemble text into a program. filename is used in messages. Returns 0, or -1 with
 * "file:line: message" in err (and *out zeroed, so ls_prog_free(out) is harmless).
 * On success *out owns heap memory: free with ls_prog_free. */
int ls_assemble(const char *src, size_t len, const char *filename, ls_prog *out, char *err,
                size_t errlen);

/* Write the program as assembly text that ls_assemble turns back into the identical program
 * (ls_prog_encode of both gives identical bytes). Anything without a text form (unknown op,
 * bad type, stream or queue) is written as a "; bad ..." comment instead. Returns 0, -1 on
 * write error. */
int ls_disassemble(const ls_prog *p, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
