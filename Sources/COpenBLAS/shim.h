// C view of OpenBLAS for the executor: CBLAS (cblas_sgemm) and LAPACK's thin SVD. Debian's
// libopenblas exports LAPACK too, but `lapacke.h` is another package, so sgesdd_ is declared here with
// the Fortran ABI: every argument by pointer, matrices column-major (the hidden length of the one-char
// `jobz` is not read for a single character).
#ifndef GRAPHC_COPENBLAS_SHIM_H
#define GRAPHC_COPENBLAS_SHIM_H
#include <cblas.h>

void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s, float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork, int *iwork, int *info);

#endif
