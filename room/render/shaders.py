"""GLSL (3.30 core) of the renderer: one pass writes every modality (multiple render targets).

Attachments: 0 linear radiance (RGBA16F; alpha 1 where the wall is seen from outside the
airway), 1 triangle index ``gl_PrimitiveID`` (R32I, exact, no 24-bit packing limit). Depth and
normals are computed exactly from the triangle ids outside GL (float32 interpolation over long
triangles errs by up to 1e-3 relative; ray-plane intersection in float64 does not).

Shading (all in the OpenCV camera frame, metres): point LEDs at the tip with a smooth spot cone,
inverse-square falloff and Lambert + normalized Blinn-Phong (Schlick Fresnel) for wet mucosa;
albedo and bumps come from tiling 3D noise textures indexed by world position (no UVs needed), and
cartilage rings from the per-vertex branch arclength.
"""

VERTEX = """
#version 330 core
layout(location = 0) in vec3 a_pos;     // world position minus the mesh origin (m)
layout(location = 1) in vec3 a_normal;  // world unit normal, pointing into the lumen
layout(location = 2) in vec4 a_tree;    // arclength s (m), ring flag, branch radius, length (m)
layout(location = 3) in vec4 a_axis;    // branch direction (world), 1 for the root branch
uniform mat4 u_cam_world;               // OpenCV camera <- world (origin folded in)
uniform mat4 u_proj;                    // OpenCV camera -> clip (camera.gl_projection)
out vec3 v_pcam;
out vec3 v_ncam;
out vec3 v_pworld;
out vec4 v_tree;
out vec3 v_axis;
out float v_root;
void main() {
    vec4 pc = u_cam_world * vec4(a_pos, 1.0);
    mat3 R = mat3(u_cam_world);
    v_pcam = pc.xyz;
    v_ncam = R * a_normal;
    v_axis = R * a_axis.xyz;
    v_pworld = a_pos;
    v_tree = a_tree;
    v_root = a_axis.w;
    gl_Position = u_proj * pc;
}
"""

FRAGMENT = """
#version 330 core
in vec3 v_pcam;
in vec3 v_ncam;
in vec3 v_pworld;
in vec4 v_tree;
in vec3 v_axis;
in float v_root;
uniform mat3 u_R;                 // rotation camera <- world
uniform sampler3D u_tex_color;    // r: mottling, g: large vessels, b: capillaries (ridges ~1)
uniform sampler3D u_tex_bump;     // rgb: bump height gradient (0.5 = 0), a: height
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
uniform vec3 u_ring_color;
uniform float u_bump;
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

    // Mucosa albedo: mottling, vessels (dark red ridges of band-passed noise), rings.
    vec3 tc = texture(u_tex_color, v_pworld * u_color_freq).rgb;
    vec3 tv = texture(u_tex_color, v_pworld * u_vessel_freq).rgb;
    vec3 albedo = u_base * (1.0 + u_var * (tc.r - 0.5) * vec3(0.6, 1.4, 1.2));
    float vessel = max(smoothstep(1.0 - u_vessel_width, 1.0, tv.g),
                       0.6 * smoothstep(1.0 - 0.7 * u_vessel_width, 1.0, tv.b));
    albedo *= 1.0 - u_vessel_contrast * vessel * vec3(0.25, 0.75, 0.65);
    float s = v_tree.x, r = v_tree.z;
    float fade_in = v_root > 0.5 ? 1.0 : clamp(s / r - 0.5, 0.0, 1.0);
    float w = v_tree.y * fade_in * clamp((v_tree.w - s) / r - 1.0, 0.0, 1.0);
    float phase = s * u_ring_freq;
    float c = 0.5 + 0.5 * cos(phase);
    float ring = w * c * c * c * c;
    albedo = mix(albedo, u_ring_color, u_ring_contrast * ring);

    // Shading normal: noise bumps plus the ridge of each cartilage ring.
    vec3 g = u_R * (texture(u_tex_bump, v_pworld * u_bump_freq).rgb * 2.0 - 1.0);
    float dring = w * 2.0 * c * c * c * sin(phase);
    g += 0.6 * dring * v_axis;
    vec3 ns = normalize(n - u_bump * (g - dot(g, n) * n));

    vec3 rad = vec3(0.0);
    for (int i = 0; i < u_n_lights; ++i) {
        vec3 l = u_light_pos[i] - v_pcam;
        float d2 = dot(l, l);
        l *= inversesqrt(d2);
        float spot = smoothstep(u_cos_outer, u_cos_inner, -l.z);
        float ndl = max(dot(ns, l), 0.0);
        vec3 h = normalize(l + view);
        float ndh = max(dot(ns, h), 0.0);
        float F = u_f0 + (1.0 - u_f0) * pow(1.0 - max(dot(h, view), 0.0), 5.0);
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
