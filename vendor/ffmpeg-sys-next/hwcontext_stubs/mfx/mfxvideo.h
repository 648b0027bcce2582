// hwcontext_qsv.h includes <mfxvideo.h> (oneVPL) on some builds and
// <mfx/mfxvideo.h> (Media SDK layout) on others; shim both paths.
#include <mfxvideo.h>
