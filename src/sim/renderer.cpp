#include "sim/renderer.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <mujoco/mujoco.h>

#include <cstring>

#include "util/error.h"

namespace avla::sim {

namespace {

EGLDisplay open_display() {
  // prefer Mesa's surfaceless platform: works without X, a GPU or /dev/dri
  auto get_platform_display = reinterpret_cast<PFNEGLGETPLATFORMDISPLAYEXTPROC>(
      eglGetProcAddress("eglGetPlatformDisplayEXT"));
  if (get_platform_display) {
    EGLDisplay d =
        get_platform_display(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
    if (d != EGL_NO_DISPLAY && eglInitialize(d, nullptr, nullptr)) return d;
  }
  EGLDisplay d = eglGetDisplay(EGL_DEFAULT_DISPLAY);
  if (d != EGL_NO_DISPLAY && eglInitialize(d, nullptr, nullptr)) return d;
  fail("renderer",
       "no EGL display (tried Mesa surfaceless and the default display): EGL error "
       "0x{:x}; install libegl-mesa0",
       eglGetError());
}

// the process's display and its one OpenGL config, initialized once
struct EglDisplay {
  EGLDisplay display = EGL_NO_DISPLAY;
  EGLConfig config = nullptr;
};

const EglDisplay& egl_display() {
  static const EglDisplay d = [] {
    EglDisplay r;
    r.display = open_display();
    const EGLint config_attribs[] = {EGL_RED_SIZE,
                                     8,
                                     EGL_GREEN_SIZE,
                                     8,
                                     EGL_BLUE_SIZE,
                                     8,
                                     EGL_ALPHA_SIZE,
                                     8,
                                     EGL_DEPTH_SIZE,
                                     24,
                                     EGL_STENCIL_SIZE,
                                     8,
                                     EGL_COLOR_BUFFER_TYPE,
                                     EGL_RGB_BUFFER,
                                     EGL_SURFACE_TYPE,
                                     EGL_PBUFFER_BIT,
                                     EGL_RENDERABLE_TYPE,
                                     EGL_OPENGL_BIT,
                                     EGL_NONE};
    EGLint n_config = 0;
    AVLA_CHECK(eglChooseConfig(r.display, config_attribs, &r.config, 1, &n_config) && n_config > 0,
               "renderer", "no EGL config with 8-bit RGBA, 24-bit depth and OpenGL");
    return r;
  }();
  return d;
}

}  // namespace

// each renderer has its own OpenGL context. MuJoCo's mjrContext keeps GL state (the bound
// offscreen framebuffer, textures) that it assumes is its own: with several renderers in one
// context (several envs in lockstep evaluation, each with its scenes), an env's agentview came
// out with another scene's pixels in it (Env.ResetDependsOnTaskAndSeedAloneWhateverRanBefore)
struct Renderer::Impl {
  EGLContext gl = EGL_NO_CONTEXT;
  mjvScene scene;
  mjvOption option;
  mjvCamera camera;
  mjrContext context;
  std::vector<uint8_t> flipped;

  // the API is per thread: bound on each thread that renders
  void make_current() const {
    AVLA_CHECK(eglBindAPI(EGL_OPENGL_API), "renderer", "eglBindAPI(OpenGL) failed");
    AVLA_CHECK(eglMakeCurrent(egl_display().display, EGL_NO_SURFACE, EGL_NO_SURFACE, gl),
               "renderer", "eglMakeCurrent failed: 0x{:x}", eglGetError());
  }
};

Renderer::Renderer(const Physics& physics, int image_size)
    : impl_(std::make_unique<Impl>()), image_size_(image_size) {
  const mjModel* m = physics.model();
  AVLA_CHECK(image_size >= 1 && image_size <= m->vis.global.offwidth &&
                 image_size <= m->vis.global.offheight,
             "renderer", "image size {} exceeds the scene's offscreen buffer {}x{}", image_size,
             m->vis.global.offwidth, m->vis.global.offheight);
  // llvmpipe renders these small frames fastest on the calling thread alone
  setenv("LP_NUM_THREADS", "0", 0);
  const EglDisplay& egl = egl_display();
  AVLA_CHECK(eglBindAPI(EGL_OPENGL_API), "renderer", "eglBindAPI(OpenGL) failed");
  impl_->gl = eglCreateContext(egl.display, egl.config, EGL_NO_CONTEXT, nullptr);
  AVLA_CHECK(impl_->gl != EGL_NO_CONTEXT, "renderer", "eglCreateContext failed: 0x{:x}",
             eglGetError());
  impl_->make_current();
  mjv_defaultScene(&impl_->scene);
  mjv_defaultOption(&impl_->option);
  mjv_defaultCamera(&impl_->camera);
  mjr_defaultContext(&impl_->context);
  mjv_makeScene(m, &impl_->scene, 500);
  mjr_makeContext(m, &impl_->context, mjFONTSCALE_100);
  mjr_setBuffer(mjFB_OFFSCREEN, &impl_->context);
  AVLA_CHECK(impl_->context.currentBuffer == mjFB_OFFSCREEN, "renderer",
             "the offscreen framebuffer is not supported by this OpenGL");
  impl_->scene.flags[mjRND_SHADOW] = 0;
  impl_->scene.flags[mjRND_REFLECTION] = 0;
  impl_->scene.flags[mjRND_SKYBOX] = 0;
  impl_->camera.type = mjCAMERA_FIXED;
  impl_->flipped.resize(static_cast<size_t>(image_size) * image_size * 3);
}

Renderer::~Renderer() {
  if (eglMakeCurrent(egl_display().display, EGL_NO_SURFACE, EGL_NO_SURFACE, impl_->gl)) {
    mjr_freeContext(&impl_->context);
  }
  mjv_freeScene(&impl_->scene);
  eglMakeCurrent(egl_display().display, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
  eglDestroyContext(egl_display().display, impl_->gl);
}

void Renderer::render(const Physics& physics, int camera_id, uint8_t* rgb) {
  impl_->make_current();
  impl_->camera.fixedcamid = camera_id;
  const mjrRect viewport = {0, 0, image_size_, image_size_};
  mjv_updateScene(physics.model(), const_cast<mjData*>(physics.data()), &impl_->option, nullptr,
                  &impl_->camera, mjCAT_ALL, &impl_->scene);
  mjr_render(viewport, &impl_->scene, &impl_->context);
  mjr_readPixels(impl_->flipped.data(), nullptr, viewport, &impl_->context);
  // OpenGL rows run bottom-up; images are stored top-down
  const size_t row = static_cast<size_t>(image_size_) * 3;
  for (int y = 0; y < image_size_; ++y) {
    std::memcpy(rgb + y * row, impl_->flipped.data() + (image_size_ - 1 - y) * row, row);
  }
}

std::vector<uint8_t> Renderer::render(const Physics& physics, const std::string& camera) {
  std::vector<uint8_t> rgb(static_cast<size_t>(image_size_) * image_size_ * 3);
  render(physics, physics.camera_id(camera), rgb.data());
  return rgb;
}

}  // namespace avla::sim
