//! A single-precision matrix product for x86-64 CPUs with AVX-512, written for the product
//! that dominates a training step's forward pass: the first layer's `x·W₁ᵀ` (5,000 × 3,072
//! inputs by 200 units on CIFAR-5k), where it runs 8–9 % faster than the `gemm` crate's
//! kernel on this machine (153 against 140 GFLOP/s on one core, in-process pairs). It also
//! runs the first layer's weight product as `Wᵀ = xᵀ·d` on a transposed copy of the inputs,
//! with `d` packed once per product ([`PackedRight`]) and shared by the feature-range tasks:
//! no copy of the inputs per step, where the `gemm` crate packed all of them for `dᵀ·x`.
//!
//! The layout follows BLIS: the right operand is packed in blocks (see [`blocking`]) into
//! panels [`NR`] columns wide, kept in L2; the left operand is read in place [`MR`] rows at a
//! time when its rows are contiguous (the inputs are never copied), or packed panel by panel;
//! an 8 × 48 register tile takes 24 fused multiply-adds per step of k with the left value
//! broadcast from memory. A last panel narrower than 48 columns is rounded up to 16 or 32 and
//! stored under a mask. When it has at most 8 columns (an output 200 wide: four full panels
//! and 8 columns) and the left rows are read in place, those columns are dot products of a
//! row and a column instead, 16 lanes of k at a time: the broadcast kernel spent 8 broadcasts
//! on each half-empty vector there (the step 0.97 of the time with the dot products, in
//! in-process pairs).
//!
//! Each output element is summed over k block by block, in order within a block (in the dot
//! products: lane by lane, then a fixed reduction); the blocks depend on k and n only, so a
//! row's result does not depend on the other rows, the thread or the call. [`matmul_f32`]
//! returns `false` where it does not apply (no AVX-512, or an output whose columns are not
//! contiguous); the caller then uses the general product.

use ndarray::{ArrayView2, ArrayViewMut2};

/// Rows of the register tile (left operand values broadcast per step of k).
pub const MR: usize = 8;
/// Columns of the register tile: three 16-lane vectors.
pub const NR: usize = 48;
/// The block sizes for a k × n right operand: (depth, columns). A narrow operand (W₁ᵀ, 200
/// columns) is packed whole, 768 rows deep (768 × 208 × 4 bytes = 624 KiB, in this machine's
/// 2 MiB L2 with room to spare); measured on CIFAR-5k's forward against 128–1,280 rows deep.
/// Wider ones go 768 columns by 256 rows (768 KiB). Depends on the shapes only.
#[cfg(target_arch = "x86_64")]
fn blocking(n: usize) -> (usize, usize) {
    if n <= 256 { (768, n) } else { (256, 16 * NR) }
}

/// A last panel this narrow or narrower is computed as dot products ([`x86::edge_dots`])
/// when the left operand's rows are read in place.
#[cfg(target_arch = "x86_64")]
const DOT_EDGE_COLS: usize = 8;

/// How many steps of k ahead the kernel asks for the right operand's panel.
#[cfg(target_arch = "x86_64")]
const PREFETCH_STEPS: usize = 8;

/// Whether this CPU runs the AVX-512 kernel (checked once).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX512.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `c ← a·b` (or `c ← c + a·b` with `accumulate`) for f32 views of any strides, provided `c`'s
/// columns are contiguous. Returns `false`, touching nothing, when the AVX-512 kernel does not
/// apply (see the module notes).
pub fn matmul_f32(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    accumulate: bool,
    c: &mut ArrayViewMut2<'_, f32>,
) -> bool {
    let (m, k) = a.dim();
    let (kb, n) = b.dim();
    assert_eq!(k, kb, "matmul_f32: inner dimensions");
    assert_eq!(c.dim(), (m, n), "matmul_f32: output shape");
    if !available() || (n > 1 && c.strides()[1] != 1) || m == 0 || n == 0 || k == 0 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (ars, acs) = left_strides(&a);
        let ops = Operands {
            m,
            n,
            k,
            a: a.as_ptr(),
            ars,
            acs,
            b: b.as_ptr(),
            brs: b.strides()[0],
            bcs: b.strides()[1],
            c: c.as_mut_ptr(),
            crs: c.strides()[0],
        };
        #[allow(unsafe_code)]
        // SAFETY: `available()` checked the CPU has AVX-512F. The pointers and strides come
        // from live views whose shapes were checked to be m×k, k×n and m×n above; `c` is
        // borrowed mutably, so it aliases neither input, and its columns are contiguous.
        unsafe {
            x86::product(&ops, accumulate);
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = accumulate;
        false
    }
}

/// A narrow right operand (at most 256 columns, as ∂L/∂z₁ in the first layer's weight product)
/// packed whole, once, for several products with it ([`matmul_packed`]): the row-range tasks
/// of one product then share a single packing. The buffer is kept between [`pack`](Self::pack)
/// calls.
#[derive(Default)]
pub struct PackedRight {
    k: usize,
    n: usize,
    /// Rows per block (the product's depth blocking).
    #[cfg(target_arch = "x86_64")]
    depth: usize,
    /// Values per packed row of a block: the panel widths summed (208 for 200 columns).
    #[cfg(target_arch = "x86_64")]
    width: usize,
    #[cfg(target_arch = "x86_64")]
    buf: Option<Aligned>,
}

impl PackedRight {
    /// Packs `b` (k × n), its depth blocks shared among up to `threads` threads. Returns
    /// `false`, leaving nothing usable, where the kernel does not apply: no AVX-512, an empty
    /// operand, or more than 256 columns.
    pub fn pack(&mut self, b: ArrayView2<'_, f32>, threads: usize) -> bool {
        let (k, n) = b.dim();
        self.k = 0;
        self.n = 0;
        if !available() || k == 0 || n == 0 || n > 256 {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        {
            let (depth, _) = blocking(n);
            let depth = depth.min(k);
            let width: usize = (0..n.div_ceil(NR))
                .map(|p| panel_width(NR.min(n - p * NR)))
                .sum();
            let len = k * width;
            if self.buf.as_ref().is_none_or(|b| b.len() < len) {
                self.buf = Some(Aligned::new(len));
            }
            let Some(buf) = self.buf.as_mut() else {
                return false;
            };
            let blocks: Vec<&mut [f32]> =
                buf.slice_mut()[..len].chunks_mut(depth * width).collect();
            let per_thread = blocks.len().div_ceil(threads.clamp(1, blocks.len()));
            let pack_some = |first: usize, mine: Vec<&mut [f32]>| {
                let ops = Operands {
                    m: 0,
                    n,
                    k,
                    a: std::ptr::null(),
                    ars: 0,
                    acs: 0,
                    b: b.as_ptr(),
                    brs: b.strides()[0],
                    bcs: b.strides()[1],
                    c: std::ptr::null_mut(),
                    crs: 0,
                };
                for (i, out) in mine.into_iter().enumerate() {
                    let pc = (first + i) * depth;
                    let kc = depth.min(k - pc);
                    #[allow(unsafe_code)]
                    // SAFETY: rows pc..pc+kc, columns 0..n lie inside b (a live view); `out`
                    // holds kc rows of `width` values.
                    unsafe {
                        x86::pack_b(&ops, pc, kc, 0, n, true, out)
                    };
                }
            };
            let mut blocks = blocks;
            if per_thread >= blocks.len() {
                pack_some(0, blocks);
            } else {
                std::thread::scope(|scope| {
                    let mut first = 0;
                    while !blocks.is_empty() {
                        let rest = blocks.split_off(per_thread.min(blocks.len()));
                        let mine = std::mem::replace(&mut blocks, rest);
                        let count = mine.len();
                        let pack_some = &pack_some;
                        scope.spawn(move || pack_some(first, mine));
                        first += count;
                    }
                });
            }
            self.k = k;
            self.n = n;
            self.depth = depth;
            self.width = width;
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// (k, n) of the operand last packed; (0, 0) when none is.
    pub fn dim(&self) -> (usize, usize) {
        (self.k, self.n)
    }
}

/// `c ← a·b` with `b` packed beforehand ([`PackedRight::pack`]), for f32 views `a` with
/// contiguous rows and `c` with contiguous columns. Each element is summed exactly as
/// [`matmul_f32`] sums it. Returns `false`, touching nothing, when the kernel does not apply.
pub fn matmul_packed(
    a: ArrayView2<'_, f32>,
    b: &PackedRight,
    c: &mut ArrayViewMut2<'_, f32>,
) -> bool {
    let (m, k) = a.dim();
    let (kb, n) = b.dim();
    if kb == 0 || n == 0 {
        return false;
    }
    assert_eq!(k, kb, "matmul_packed: inner dimensions");
    assert_eq!(c.dim(), (m, n), "matmul_packed: output shape");
    // The packed operand's narrow edge is laid out for dot products with rows read in place.
    let (ars, acs) = left_strides(&a);
    if (n > 1 && c.strides()[1] != 1) || m == 0 || acs != 1 || ars <= 0 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let ops = Operands {
            m,
            n,
            k,
            a: a.as_ptr(),
            ars,
            acs,
            b: std::ptr::null(),
            brs: 0,
            bcs: 0,
            c: c.as_mut_ptr(),
            crs: c.strides()[0],
        };
        #[allow(unsafe_code)]
        // SAFETY: `b` was packed (so the CPU has AVX-512F) from a k × n operand; `a` and `c`
        // are live views checked to be m × k and m × n, `c` borrowed mutably with contiguous
        // columns.
        unsafe {
            x86::product_packed(&ops, b);
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The left operand's (row, column) strides, with those of a length-1 axis (which ndarray may
/// report as 0) set as if the view were contiguous: one row is read in place whatever its row
/// stride, one column whatever its column stride.
fn left_strides(a: &ArrayView2<'_, f32>) -> (isize, isize) {
    let (m, k) = a.dim();
    let acs = if k == 1 { 1 } else { a.strides()[1] };
    let ars = if m == 1 { k as isize } else { a.strides()[0] };
    (ars, acs)
}

/// The raw shape, pointers and element strides of one product.
#[cfg(target_arch = "x86_64")]
struct Operands {
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    ars: isize,
    acs: isize,
    b: *const f32,
    brs: isize,
    bcs: isize,
    c: *mut f32,
    crs: isize,
}

/// A zeroed f32 buffer of at least `len` elements whose usable part starts on a 64-byte line.
#[cfg(target_arch = "x86_64")]
struct Aligned {
    buf: Vec<f32>,
    offset: usize,
}

#[cfg(target_arch = "x86_64")]
impl Aligned {
    fn new(len: usize) -> Self {
        let buf = vec![0.0f32; len + 16];
        let offset = buf.as_ptr().align_offset(64).min(16);
        Aligned { buf, offset }
    }
    fn slice_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.offset..]
    }
    fn slice(&self) -> &[f32] {
        &self.buf[self.offset..]
    }
    fn len(&self) -> usize {
        self.buf.len() - self.offset
    }
}

/// Width of the packed panel holding `cols` (≤ [`NR`]) columns: rounded up to whole vectors.
#[cfg(target_arch = "x86_64")]
fn panel_width(cols: usize) -> usize {
    cols.div_ceil(16) * 16
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Aligned, MR, NR, Operands, PREFETCH_STEPS};
    use std::arch::x86_64::*;

    /// The product described by `ops` (see [`super::matmul_f32`]).
    ///
    /// # Safety
    /// The CPU supports AVX-512F; `ops` describes valid m×k, k×n and m×n arrays, the last one
    /// writable, not overlapping the others and with contiguous columns.
    #[allow(unsafe_code)]
    pub(super) unsafe fn product(ops: &Operands, accumulate: bool) {
        let (kcb, ncb) = super::blocking(ops.n);
        // No deeper than the product: a shallow one (digits: k = 64) allocates only what it uses.
        let kcb = kcb.min(ops.k);
        let mut ap = Aligned::new(MR * kcb);
        let mut bp = Aligned::new(kcb * (ncb.div_ceil(NR) * NR));
        let mut jc = 0;
        while jc < ops.n {
            let nc = ncb.min(ops.n - jc);
            let mut pc = 0;
            while pc < ops.k {
                let kc = kcb.min(ops.k - pc);
                // SAFETY: the block lies inside b; the caller's guarantees hold for `block`.
                unsafe {
                    pack_b(ops, pc, kc, jc, nc, direct_rows(ops), bp.slice_mut());
                    block(
                        ops,
                        pc,
                        kc,
                        jc,
                        nc,
                        bp.slice(),
                        accumulate || pc > 0,
                        &mut ap,
                    );
                }
                pc += kc;
            }
            jc += nc;
        }
    }

    /// `c ← a·b` with b packed beforehand, whole ([`super::PackedRight`]).
    ///
    /// # Safety
    /// As for [`product`]; `ops.k`, `ops.n` are `packed`'s and `ops.b` is unused.
    #[allow(unsafe_code)]
    pub(super) unsafe fn product_packed(ops: &Operands, packed: &super::PackedRight) {
        let kcb = packed.depth;
        let mut ap = Aligned::new(MR * kcb);
        let Some(buf) = packed.buf.as_ref() else {
            return;
        };
        let data = buf.slice();
        let mut pc = 0;
        while pc < ops.k {
            let kc = kcb.min(ops.k - pc);
            let start = pc * packed.width;
            // SAFETY: the packed block holds kc rows of every panel of all n columns.
            unsafe {
                block(
                    ops,
                    pc,
                    kc,
                    0,
                    ops.n,
                    &data[start..start + kc * packed.width],
                    pc > 0,
                    &mut ap,
                )
            };
            pc += kc;
        }
    }

    /// One block of the product: rows pc..pc+kc of b, columns jc..jc+nc, packed in `packed`
    /// ([`pack_b`]'s layout), times the matching columns of a, into (or, with `add`, onto)
    /// columns jc..jc+nc of c.
    ///
    /// # Safety
    /// As for [`product`]; `packed` holds the block in [`pack_b`]'s layout and `ap` at least
    /// MR·kc values.
    #[allow(unsafe_code, clippy::too_many_arguments)]
    unsafe fn block(
        ops: &Operands,
        pc: usize,
        kc: usize,
        jc: usize,
        nc: usize,
        packed: &[f32],
        add: bool,
        ap: &mut Aligned,
    ) {
        // The left operand is read in place, MR rows at a time, when its rows are contiguous
        // (x in x·W₁ᵀ: no copy of the inputs); otherwise each panel is packed as it comes.
        let direct_a = direct_rows(ops);
        // (column offset in the block, columns, panel width, panel start)
        let mut panels = Vec::with_capacity(nc.div_ceil(NR));
        let (mut jr, mut b_off) = (0, 0);
        while jr < nc {
            let cols = NR.min(nc - jr);
            let width = super::panel_width(cols);
            panels.push((jr, cols, width, packed[b_off..b_off + kc * width].as_ptr()));
            jr += cols;
            b_off += kc * width;
        }
        for ir in (0..ops.m).step_by(MR) {
            let rows = MR.min(ops.m - ir);
            let (a_panel, lda, direct) = if direct_a && rows == MR {
                // SAFETY: row ir, column pc is inside a.
                (
                    unsafe { ops.a.offset(ir as isize * ops.ars + pc as isize) },
                    ops.ars as usize,
                    true,
                )
            } else {
                // SAFETY: rows ir.. and columns pc..pc+kc lie inside a.
                unsafe { pack_a(ops, pc, kc, ir, ap.slice_mut()) };
                // (`lda` is read only for a left operand read in place.)
                (ap.slice()[..MR * kc].as_ptr(), 0, false)
            };
            for &(jr, cols, width, b_panel) in &panels {
                if direct_a && cols <= super::DOT_EDGE_COLS {
                    // SAFETY: rows ir..ir+rows, columns pc..pc+kc of a are inside it, rows
                    // `ars` apart; the panel holds `cols` columns of kc values ([`pack_b`]);
                    // the tile is inside c.
                    unsafe {
                        edge_dots(
                            kc,
                            ops.a.offset(ir as isize * ops.ars + pc as isize),
                            ops.ars,
                            rows,
                            b_panel,
                            cols,
                            &Tile {
                                c: ops.c.offset((ir as isize) * ops.crs + (jc + jr) as isize),
                                ldc: ops.crs,
                                rows,
                                cols,
                                add,
                            },
                        )
                    };
                    continue;
                }
                // SAFETY: the tile's rows ir..ir+rows and columns jc+jr..+cols are inside c;
                // the panels hold kc steps of MR and `width` values.
                unsafe {
                    let t = Tile {
                        c: ops.c.offset((ir as isize) * ops.crs + (jc + jr) as isize),
                        ldc: ops.crs,
                        rows,
                        cols,
                        add,
                    };
                    match (width, direct) {
                        (48, false) => kernel::<3, false>(kc, a_panel, lda, b_panel, &t),
                        (48, true) => kernel::<3, true>(kc, a_panel, lda, b_panel, &t),
                        (32, false) => kernel::<2, false>(kc, a_panel, lda, b_panel, &t),
                        (32, true) => kernel::<2, true>(kc, a_panel, lda, b_panel, &t),
                        (_, false) => kernel::<1, false>(kc, a_panel, lda, b_panel, &t),
                        (_, true) => kernel::<1, true>(kc, a_panel, lda, b_panel, &t),
                    }
                }
            }
        }
    }

    /// Packs rows pc..pc+kc of columns jc..jc+nc of b into panels of [`NR`] columns (the last
    /// one as wide as [`super::panel_width`] says, zero-padded), each kc rows × width, row by
    /// row.
    ///
    /// # Safety
    /// The block lies inside b.
    #[allow(unsafe_code)]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn pack_b(
        ops: &Operands,
        pc: usize,
        kc: usize,
        jc: usize,
        nc: usize,
        dot_edge: bool,
        out: &mut [f32],
    ) {
        let mut off = 0;
        let mut jr = 0;
        while jr < nc {
            let cols = NR.min(nc - jr);
            let width = super::panel_width(cols);
            let panel = &mut out[off..off + kc * width];
            let col0 = (jc + jr) as isize;
            if dot_edge && cols <= super::DOT_EDGE_COLS {
                // A narrow last panel for [`edge_dots`]: column by column, kc values each.
                for j in 0..cols {
                    let dst = &mut panel[j * kc..(j + 1) * kc];
                    // SAFETY: column col0+j, rows pc..pc+kc are inside b.
                    let src = unsafe {
                        ops.b
                            .offset((col0 + j as isize) * ops.bcs + pc as isize * ops.brs)
                    };
                    if ops.brs == 1 {
                        // SAFETY: as above, contiguous.
                        dst.copy_from_slice(unsafe { std::slice::from_raw_parts(src, kc) });
                    } else {
                        for (p, d) in dst.iter_mut().enumerate() {
                            // SAFETY: p < kc.
                            *d = unsafe { *src.offset(p as isize * ops.brs) };
                        }
                    }
                }
            } else if ops.bcs == 1 {
                for p in 0..kc {
                    // SAFETY: row pc+p, columns col0..col0+cols are inside b.
                    let src = unsafe {
                        std::slice::from_raw_parts(
                            ops.b.offset((pc + p) as isize * ops.brs + col0),
                            cols,
                        )
                    };
                    let dst = &mut panel[p * width..p * width + width];
                    dst[..cols].copy_from_slice(src);
                    dst[cols..].fill(0.0);
                }
            } else {
                // b's columns are contiguous along k (or strided): copy 8 × 8 blocks
                // transposed, then the edges one by one.
                let full_j = if ops.brs == 1 { cols / 8 * 8 } else { 0 };
                let full_p = if ops.brs == 1 { kc / 8 * 8 } else { 0 };
                for j0 in (0..full_j).step_by(8) {
                    for p0 in (0..full_p).step_by(8) {
                        // SAFETY: columns col0+j0..+8 and rows pc+p0..+8 are inside b; the
                        // panel holds rows p0..p0+8 of width ≥ j0 + 8 values.
                        unsafe {
                            let src = ops
                                .b
                                .offset((col0 + j0 as isize) * ops.bcs + (pc + p0) as isize);
                            transpose8(
                                src,
                                ops.bcs,
                                panel.as_mut_ptr().add(p0 * width + j0),
                                width as isize,
                            );
                        }
                    }
                }
                for j in 0..width {
                    let p_start = if j < full_j { full_p } else { 0 };
                    if j >= cols {
                        for p in 0..kc {
                            panel[p * width + j] = 0.0;
                        }
                        continue;
                    }
                    // SAFETY: column col0+j, rows pc..pc+kc are inside b.
                    let src = unsafe {
                        ops.b
                            .offset((col0 + j as isize) * ops.bcs + pc as isize * ops.brs)
                    };
                    for p in p_start..kc {
                        // SAFETY: p < kc.
                        panel[p * width + j] = unsafe { *src.offset(p as isize * ops.brs) };
                    }
                }
            }
            off += kc * width;
            jr += cols;
        }
    }

    /// Packs rows ir..ir+[`MR`] of columns pc..pc+kc of a into `panel`: kc steps of MR values
    /// (rows past m zero).
    ///
    /// # Safety
    /// The block lies inside a.
    #[allow(unsafe_code)]
    unsafe fn pack_a(ops: &Operands, pc: usize, kc: usize, ir: usize, panel: &mut [f32]) {
        let rows = MR.min(ops.m - ir);
        if ops.acs == 1 {
            let full_p = if rows == MR { kc / 8 * 8 } else { 0 };
            for p0 in (0..full_p).step_by(8) {
                // SAFETY: rows ir..ir+8, columns pc+p0..+8 are inside a; the panel holds
                // steps p0..p0+8 of MR values.
                unsafe {
                    let src = ops.a.offset(ir as isize * ops.ars + (pc + p0) as isize);
                    transpose8(src, ops.ars, panel.as_mut_ptr().add(p0 * MR), MR as isize);
                }
            }
            for r in 0..MR {
                if r >= rows {
                    for p in 0..kc {
                        panel[p * MR + r] = 0.0;
                    }
                    continue;
                }
                // SAFETY: row ir+r, columns pc..pc+kc are inside a.
                let src = unsafe { ops.a.offset((ir + r) as isize * ops.ars + pc as isize) };
                for p in full_p..kc {
                    // SAFETY: p < kc.
                    panel[p * MR + r] = unsafe { *src.add(p) };
                }
            }
        } else if ops.ars == 1 && rows == MR {
            for p in 0..kc {
                // SAFETY: column pc+p, rows ir..ir+MR are inside a, contiguous.
                let src = unsafe {
                    std::slice::from_raw_parts(
                        ops.a.offset((pc + p) as isize * ops.acs + ir as isize),
                        MR,
                    )
                };
                panel[p * MR..(p + 1) * MR].copy_from_slice(src);
            }
        } else {
            for p in 0..kc {
                // SAFETY: column pc+p, rows ir..ir+rows are inside a.
                let src = unsafe {
                    ops.a
                        .offset((pc + p) as isize * ops.acs + ir as isize * ops.ars)
                };
                for r in 0..MR {
                    panel[p * MR + r] = if r < rows {
                        // SAFETY: r < rows.
                        unsafe { *src.offset(r as isize * ops.ars) }
                    } else {
                        0.0
                    };
                }
            }
        }
    }

    /// Writes the transpose of the 8 × 8 block at `src` (rows `ss` apart, each 8 contiguous
    /// values) to `dst` (rows `ds` apart).
    ///
    /// # Safety
    /// AVX is available; both blocks are inside their arrays.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx")]
    unsafe fn transpose8(src: *const f32, ss: isize, dst: *mut f32, ds: isize) {
        // SAFETY: the caller guarantees the eight rows of eight values on both sides.
        unsafe {
            let r = |i: isize| _mm256_loadu_ps(src.offset(i * ss));
            let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
            let (r4, r5, r6, r7) = (r(4), r(5), r(6), r(7));
            let t0 = _mm256_unpacklo_ps(r0, r1);
            let t1 = _mm256_unpackhi_ps(r0, r1);
            let t2 = _mm256_unpacklo_ps(r2, r3);
            let t3 = _mm256_unpackhi_ps(r2, r3);
            let t4 = _mm256_unpacklo_ps(r4, r5);
            let t5 = _mm256_unpackhi_ps(r4, r5);
            let t6 = _mm256_unpacklo_ps(r6, r7);
            let t7 = _mm256_unpackhi_ps(r6, r7);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let w = |i: isize, x: __m256| _mm256_storeu_ps(dst.offset(i * ds), x);
            w(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
            w(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
            w(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
            w(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
            w(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
            w(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
            w(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
            w(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
        }
    }

    /// Whether the left operand's rows are read in place: its rows are contiguous.
    fn direct_rows(ops: &Operands) -> bool {
        ops.acs == 1 && ops.ars > 0
    }

    /// A narrow last panel (at most [`super::DOT_EDGE_COLS`] columns, e.g. the 8 columns of
    /// a 200-wide output past four 48-column panels) as dot products: 4 rows × 4 columns of
    /// 16-lane partial sums over k, each row of a read in place and each column of b from the
    /// panel as [`pack_b`] stores it (column by column). The broadcast kernel would spend 8
    /// broadcasts on every half-empty vector of these columns. Every element is summed the
    /// same way (lane k mod 16, then a fixed reduction), whatever its row or the tile's rows.
    ///
    /// # Safety
    /// AVX-512F is available; `a` holds `rows` rows of kc values, `lda` apart; `b` holds `cols`
    /// columns of kc values, kc apart; the tile lies inside c.
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn edge_dots(
        kc: usize,
        a: *const f32,
        lda: isize,
        rows: usize,
        b: *const f32,
        cols: usize,
        t: &Tile,
    ) {
        const R: usize = 4;
        const C: usize = 4;
        let tail = kc % 16;
        let full = kc - tail;
        let tail_mask: __mmask16 = (1u32 << tail).wrapping_sub(1) as __mmask16;
        for i0 in (0..rows).step_by(R) {
            // Rows past the tile repeat its last row; their sums are not stored.
            let ar: [*const f32; R] =
                std::array::from_fn(|r| a.wrapping_offset((i0 + r).min(rows - 1) as isize * lda));
            for j0 in (0..cols).step_by(C) {
                let bc: [*const f32; C] =
                    std::array::from_fn(|j| b.wrapping_add((j0 + j).min(cols - 1) * kc));
                let mut acc = [[_mm512_setzero_ps(); C]; R];
                let mut p = 0;
                while p < full {
                    // SAFETY: p + 16 ≤ kc, inside every row and column.
                    let av: [__m512; R] =
                        std::array::from_fn(|r| unsafe { _mm512_loadu_ps(ar[r].add(p)) });
                    let bv: [__m512; C] =
                        std::array::from_fn(|j| unsafe { _mm512_loadu_ps(bc[j].add(p)) });
                    for (row, x) in acc.iter_mut().zip(&av) {
                        for (s, y) in row.iter_mut().zip(&bv) {
                            *s = _mm512_fmadd_ps(*x, *y, *s);
                        }
                    }
                    p += 16;
                }
                if tail > 0 {
                    // SAFETY: the masked lanes are p..kc, inside every row and column.
                    let av: [__m512; R] = std::array::from_fn(|r| unsafe {
                        _mm512_maskz_loadu_ps(tail_mask, ar[r].add(p))
                    });
                    let bv: [__m512; C] = std::array::from_fn(|j| unsafe {
                        _mm512_maskz_loadu_ps(tail_mask, bc[j].add(p))
                    });
                    for (row, x) in acc.iter_mut().zip(&av) {
                        for (s, y) in row.iter_mut().zip(&bv) {
                            *s = _mm512_fmadd_ps(*x, *y, *s);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    if i0 + r >= rows {
                        break;
                    }
                    for (j, s) in row.iter().enumerate() {
                        if j0 + j >= cols {
                            break;
                        }
                        let sum = _mm512_reduce_add_ps(*s);
                        // SAFETY: row i0+r < rows, column j0+j < cols of the tile.
                        unsafe {
                            let c = t.c.offset((i0 + r) as isize * t.ldc + (j0 + j) as isize);
                            *c = if t.add { *c + sum } else { sum };
                        }
                    }
                }
            }
        }
    }

    /// Where a register tile goes: `rows` × `cols` values from `c` on, rows `ldc` apart,
    /// added to what is there when `add`.
    struct Tile {
        c: *mut f32,
        ldc: isize,
        rows: usize,
        cols: usize,
        add: bool,
    }

    /// The register tile: MR rows × NV vectors, over kc steps of MR rows of a — a packed panel
    /// (MR values per step), or with `DIRECT_A` the rows themselves, `lda` apart — and a packed
    /// (16·NV)-column panel of b.
    ///
    /// # Safety
    /// AVX-512F is available; a holds kc steps of its MR rows, the b panel kc·16·NV values; the
    /// tile lies inside c, with cols > 16·(NV − 1).
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const NV: usize, const DIRECT_A: bool>(
        kc: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        t: &Tile,
    ) {
        let ldb = 16 * NV;
        if t.add {
            // Ask for the output tile now, so it arrives while the products run.
            for r in 0..t.rows {
                for v in 0..NV {
                    _mm_prefetch::<_MM_HINT_T0>(
                        t.c.wrapping_offset(r as isize * t.ldc + 16 * v as isize) as *const i8,
                    );
                }
            }
        }
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        let rows: [*const f32; MR] = std::array::from_fn(|r| {
            if DIRECT_A {
                a.wrapping_add(r * lda)
            } else {
                a.wrapping_add(r)
            }
        });
        let a_step = if DIRECT_A { 1 } else { MR };
        for p in 0..kc {
            let bp = b.wrapping_add(p * ldb);
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                // SAFETY: inside the b panel.
                *x = unsafe { _mm512_loadu_ps(bp.add(16 * v)) };
                // A hint only: prefetching past the panel's end does not fault.
                _mm_prefetch::<_MM_HINT_T0>(
                    bp.wrapping_add(16 * v + ldb * PREFETCH_STEPS) as *const i8
                );
            }
            for (row, ar) in acc.iter_mut().zip(&rows) {
                // SAFETY: inside the a panel.
                let av = _mm512_set1_ps(unsafe { *ar.add(p * a_step) });
                for (x, bx) in row.iter_mut().zip(&bv) {
                    *x = _mm512_fmadd_ps(av, *bx, *x);
                }
            }
        }
        let last = t.cols - 16 * (NV - 1);
        let last_mask: __mmask16 = if last >= 16 {
            0xffff
        } else {
            (1u16 << last) - 1
        };
        for (r, row) in acc.iter().enumerate() {
            if r >= t.rows {
                continue;
            }
            for (v, x) in row.iter().enumerate() {
                let mask = if v + 1 == NV { last_mask } else { 0xffff };
                // SAFETY: row r < rows and the masked lanes are columns < cols of the tile.
                unsafe {
                    let p = t.c.offset(r as isize * t.ldc + 16 * v as isize);
                    let y = if t.add {
                        _mm512_add_ps(*x, _mm512_maskz_loadu_ps(mask, p))
                    } else {
                        *x
                    };
                    _mm512_mask_storeu_ps(p, mask, y);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder, s};

    /// Deterministic values in [−0.5, 0.5), in C or Fortran order.
    fn filled(rows: usize, cols: usize, seed: u64, fortran: bool) -> Array2<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005) ^ 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        if fortran {
            Array2::from_shape_fn((rows, cols).f(), |_| next())
        } else {
            Array2::from_shape_fn((rows, cols), |_| next())
        }
    }

    /// Checks `c` against a float64 product (plus `c0` when accumulating), to a tolerance
    /// scaled by Σ|a||b|.
    fn check(a: ArrayView2<f32>, b: ArrayView2<f32>, c0: &Array2<f32>, c: &Array2<f32>, add: bool) {
        let (m, k) = a.dim();
        let n = b.ncols();
        for i in 0..m {
            for j in 0..n {
                let mut exact = if add { c0[[i, j]] as f64 } else { 0.0 };
                let mut scale = exact.abs();
                for p in 0..k {
                    let t = a[[i, p]] as f64 * b[[p, j]] as f64;
                    exact += t;
                    scale += t.abs();
                }
                let err = (c[[i, j]] as f64 - exact).abs();
                assert!(
                    err <= 4e-7 * scale + 1e-30,
                    "m={m} n={n} k={k} at ({i},{j}): {} vs {exact}",
                    c[[i, j]]
                );
            }
        }
    }

    #[test]
    fn matches_float64_products_on_edge_shapes_and_strides() {
        if !available() {
            eprintln!("no AVX-512 here: the kernel is not used, nothing to check");
            return;
        }
        let shapes = [
            (1, 1, 1),
            (7, 17, 3),
            (8, 48, 256),
            (9, 49, 257),
            (13, 200, 300),
            (200, 100, 530),
            (21, 800, 40),
            (3, 1000, 5),
        ];
        for (case, &(m, n, k)) in shapes.iter().enumerate() {
            for &(fa, fb, add) in &[
                (false, false, false),
                (true, true, true),
                (false, true, true),
                (true, false, false),
            ] {
                let a = filled(m, k, case as u64 * 8 + 1, fa);
                let b = filled(k, n, case as u64 * 8 + 2, fb);
                let c0 = filled(m, n, case as u64 * 8 + 3, false);
                let mut c = c0.clone();
                assert!(matmul_f32(a.view(), b.view(), add, &mut c.view_mut()));
                check(a.view(), b.view(), &c0, &c, add);
            }
        }
    }

    #[test]
    fn transposed_views_and_output_rows_inside_a_wider_array() {
        if !available() {
            return;
        }
        // x·Wᵀ (the engine's shape: left rows read in place) and dᵀ·x (a strided left operand,
        // packed), in miniature.
        let x = filled(37, 70, 11, false);
        let w = filled(20, 70, 12, false);
        let mut wide = filled(37, 30, 13, false);
        let before = wide.clone();
        {
            let mut z = wide.slice_mut(s![.., 5..25]);
            assert!(matmul_f32(x.view(), w.t(), false, &mut z));
        }
        check(
            x.view(),
            w.t(),
            &before.slice(s![.., 5..25]).to_owned(),
            &wide.slice(s![.., 5..25]).to_owned(),
            false,
        );
        assert_eq!(
            wide.slice(s![.., ..5]),
            before.slice(s![.., ..5]),
            "columns left of the view untouched"
        );
        assert_eq!(
            wide.slice(s![.., 25..]),
            before.slice(s![.., 25..]),
            "columns right of the view untouched"
        );
        let d = filled(37, 20, 14, false);
        let mut g = Array2::<f32>::zeros((20, 70));
        assert!(matmul_f32(d.t(), x.view(), false, &mut g.view_mut()));
        check(d.t(), x.view(), &Array2::zeros((20, 70)), &g, false);
    }

    #[test]
    fn a_prepacked_right_operand_gives_the_same_bits_as_packing_per_call() {
        if !available() {
            return;
        }
        let mut packed = PackedRight::default();
        // Shapes: one depth block and three (768 + 768 + 164), narrow last panels (8 columns past
        // 4 × 48; 56 = 48 + 8; 49 = 48 + 1), one row, a buffer reused smaller.
        for (case, &(m, n, k)) in [(300, 200, 1700), (37, 56, 90), (9, 49, 3), (1, 200, 70)]
            .iter()
            .enumerate()
        {
            let a = filled(m, k, case as u64 * 4 + 1, false);
            let at = filled(k, m, case as u64 * 4 + 2, false);
            let b = filled(k, n, case as u64 * 4 + 3, false);
            assert!(packed.pack(b.view(), 3));
            assert_eq!(packed.dim(), (k, n));
            let mut direct = Array2::<f32>::zeros((m, n));
            let mut pre = Array2::<f32>::from_elem((m, n), 7.0);
            assert!(matmul_f32(
                a.view(),
                b.view(),
                false,
                &mut direct.view_mut()
            ));
            assert!(matmul_packed(a.view(), &packed, &mut pre.view_mut()));
            assert_eq!(pre, direct, "m={m} n={n} k={k}");
            if m > 1 {
                // Its rows not contiguous: declined, untouched.
                assert!(!matmul_packed(at.t(), &packed, &mut pre.view_mut()));
                assert_eq!(pre, direct);
            }
            let mut c = Array2::<f32>::zeros((m, n));
            assert!(matmul_packed(a.view(), &packed, &mut c.view_mut()));
            check(a.view(), b.view(), &Array2::zeros((m, n)), &c, false);
        }
        // Wider than the kernel's packed operands: declined, and nothing stays usable.
        assert!(!packed.pack(filled(10, 300, 9, false).view(), 1));
        assert_eq!(packed.dim(), (0, 0));
        let mut c = Array2::<f32>::zeros((4, 300));
        assert!(!matmul_packed(
            filled(4, 10, 10, false).view(),
            &packed,
            &mut c.view_mut()
        ));
    }

    #[test]
    fn declines_an_output_with_strided_columns() {
        let a = filled(4, 4, 1, false);
        let b = filled(4, 4, 2, false);
        let mut c = Array2::<f32>::zeros((4, 4).f());
        let before = c.clone();
        assert!(!matmul_f32(a.view(), b.view(), false, &mut c.view_mut()));
        assert_eq!(c, before);
    }

    #[test]
    fn each_element_is_the_same_whatever_the_other_rows_and_columns() {
        if !available() {
            return;
        }
        // Row 3 of a·b computed alone and inside a taller product: identical bits, so a row
        // group's result does not depend on how the batch was cut.
        let a = filled(41, 600, 21, false);
        let b = filled(600, 200, 22, false);
        let mut full = Array2::<f32>::zeros((41, 200));
        assert!(matmul_f32(a.view(), b.view(), false, &mut full.view_mut()));
        let mut one = Array2::<f32>::zeros((1, 200));
        assert!(matmul_f32(
            a.slice(s![3..4, ..]),
            b.view(),
            false,
            &mut one.view_mut()
        ));
        assert_eq!(one.row(0), full.row(3));
    }
}
