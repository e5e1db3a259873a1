"""GLSL (3.30 core) of the renderer: one pass writes every modality (multiple render targets).

Attachments: 0 linear radiance (RGBA16F; alpha 1 where the wall is seen from outside the
airway), 1 triangle index ``gl_PrimitiveID`` (R32I, exact, no 24-bit packing limit). Depth and
normals are computed exactly from the triangle ids outside GL (float32 interpolation over long
triangles errs by up to 1e-3 relative; ray-plane intersection in float64 does not).

Shading (all in the OpenCV camera frame, metres): point LEDs at the tip with a smooth spot cone,
inverse-square falloff and Lambert + normalized Blinn-Phong (Schlick Fresnel) for wet mucosa;
albedo and bump height come from a tiling 3D noise texture indexed by world position (no UVs
needed), cartilage rings from the per-vertex branch arclength; bumps perturb the normal through
screen-space derivatives of the height (no tangents). Few varyings on purpose: llvmpipe's cost
per triangle grows with them.
"""

VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_pos;     // world position minus the mesh origin (m)
layout(location = 1) in vec3 a_normal;  // world unit normal, pointing into the lumen
layout(location = 2) in vec4 a_tree;    // arclength s (m), flags, branch radius, length (m)
uniform mat4 u_cam_world;               // OpenCV camera <- world (origin folded in)
uniform mat4 u_proj;                    // OpenCV camera -> clip (camera.gl_projection)
out vec3 v_pcam;
out vec3 v_ncam;
out float v_s;
flat out vec3 v_branch;                 // flags, radius, length: constant per branch
void main() {
    vec4 pc = u_cam_world * vec4(a_pos, 1.0);
    v_pcam = pc.xyz;
    v_ncam = mat3(u_cam_world) * a_normal;
    v_s = a_tree.x;
    v_branch = a_tree.yzw;
    gl_Position = u_proj * pc;
}
"""

FRAGMENT = """
#version 330 core
in vec3 v_pcam;
in vec3 v_ncam;
in float v_s;
flat in vec3 v_branch;
uniform mat4 u_world_cam;         // world (minus origin) <- OpenCV camera
uniform sampler3D u_tex;          // r: mottling, g: vessels, b: capillaries, a: bump height
uniform int u_n_lights;
uniform vec3 u_light_pos[4];      // camera frame (m); each light points along +z
uniform vec3 u_light_color;       // intensity folded in (irradiance at 1 m)
uniform float u_cos_inner;
uniform float u_cos_outer;
uniform float u_ambient;
uniform vec3 u_base;
uniform float u_var;
uniform float u_color_freq;
uniform float u_vessel_freq;
uniform float u_vessel_width;
uniform float u_vessel_contrast;
uniform float u_ring_freq;        // 2 pi / pitch (rad/m)
uniform float u_ring_contrast;
uniform float u_ring_height;      // m
uniform vec3 u_ring_color;
uniform float u_bump_height;      // m
uniform float u_bump_freq;
uniform float u_shininess;
uniform float u_f0;
layout(location = 0) out vec4 o_color;
layout(location = 1) out int o_face;
const float PI = 3.14159265;
void main() {
    vec3 view = normalize(-v_pcam);
    vec3 n = normalize(v_ncam);
    if (dot(n, view) < 0.0) n = -n;
    o_face = gl_PrimitiveID;
    vec3 pw = (u_world_cam * vec4(v_pcam, 1.0)).xyz;

    // Mucosa albedo: mottling, vessels (dark red ridges of band-passed noise), rings.
    vec4 tc = texture(u_tex, pw * u_color_freq);
    vec4 tv = texture(u_tex, pw * u_vessel_freq);
    float hb = texture(u_tex, pw * u_bump_freq).a;
    vec3 albedo = u_base * (1.0 + u_var * (tc.r - 0.5) * vec3(0.6, 1.4, 1.2));
    float vessel = max(smoothstep(1.0 - u_vessel_width, 1.0, tv.g),
                       0.6 * smoothstep(1.0 - 0.7 * u_vessel_width, 1.0, tv.b));
    albedo *= 1.0 - u_vessel_contrast * vessel * vec3(0.25, 0.75, 0.65);
    // cartilage rings: branch flag bit 0 = ring-bearing generation, bit 1 = root branch
    float r = v_branch.y;
    float fade_in = v_branch.x > 1.5 ? 1.0 : clamp(v_s / r - 0.5, 0.0, 1.0);
    float w = mod(v_branch.x, 2.0) * fade_in * clamp((v_branch.z - v_s) / r - 1.0, 0.0, 1.0);
    float c = 0.5 + 0.5 * cos(v_s * u_ring_freq);
    float ring = w * c * c * c * c;
    albedo = mix(albedo, u_ring_color, u_ring_contrast * ring);

    // Bumps without tangents (Mikkelsen 2010): perturb n by the surface gradient of the height
    // field h (m), from screen-space derivatives.
    float h = u_bump_height * hb + u_ring_height * ring;
    vec3 dpx = dFdx(v_pcam), dpy = dFdy(v_pcam);
    vec3 r1 = cross(dpy, n), r2 = cross(n, dpx);
    float det = dot(dpx, r1);
    vec3 grad = sign(det) * (dFdx(h) * r1 + dFdy(h) * r2);
    vec3 ns = normalize(abs(det) * n - grad);
    if (dot(ns, view) < 0.05) ns = n;

    vec3 rad = vec3(0.0);
    for (int i = 0; i < u_n_lights; ++i) {
        vec3 l = u_light_pos[i] - v_pcam;
        float d2 = dot(l, l);
        l *= inversesqrt(d2);
        float spot = smoothstep(u_cos_outer, u_cos_inner, -l.z);
        float ndl = max(dot(ns, l), 0.0);
        vec3 hv = normalize(l + view);
        float ndh = max(dot(ns, hv), 0.0);
        float F = u_f0 + (1.0 - u_f0) * pow(1.0 - max(dot(hv, view), 0.0), 5.0);
        float spec = F * (u_shininess + 8.0) / (8.0 * PI) * pow(ndh, u_shininess);
        rad += (spot * ndl / d2) * (albedo / PI + vec3(spec));
    }
    rad = rad * u_light_color + u_ambient * albedo / PI;
    o_color = vec4(rad, gl_FrontFacing ? 0.0 : 1.0);
}
"""

DEPTH_FRAGMENT = """
#version 330 core
void main() {}
"""

DEPTH_VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_pos;
uniform mat4 u_cam_world;
uniform mat4 u_proj;
void main() { gl_Position = u_proj * (u_cam_world * vec4(a_pos, 1.0)); }
"""
