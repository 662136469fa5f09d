"""Class: a teacher's classes, live dashboard and challenge; a student joins and sees the leaderboard."""
import streamlit as st

import ui
from ui import classroom

ui.ensure_navigation()

st.title("Class")
classroom.page()
